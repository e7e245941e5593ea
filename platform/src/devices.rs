//! The device registry and Aliyun device authentication.

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// One device triple.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Device {
    pub product_key: String,
    pub device_name: String,
    pub device_secret: String,
}

impl Device {
    pub fn new(pk: &str, dn: &str, ds: &str) -> Device {
        Device {
            product_key: pk.into(),
            device_name: dn.into(),
            device_secret: ds.into(),
        }
    }

    /// Parses `pk/dn/ds`.
    pub fn parse(text: &str) -> Result<Device, String> {
        let parts: Vec<&str> = text.split('/').collect();
        match parts.as_slice() {
            [pk, dn, ds] if !pk.is_empty() && !dn.is_empty() && !ds.is_empty() => Ok(Device::new(pk, dn, ds)),
            _ => Err(format!(
                "expected productKey/deviceName/deviceSecret, got {text:?}"
            )),
        }
    }

    /// MQTT user name the device connects with.
    pub fn username(&self) -> String {
        format!("{}&{}", self.device_name, self.product_key)
    }

    /// MQTT password the device connects with.
    pub fn password(&self) -> String {
        aliyun_password(&self.product_key, &self.device_name, &self.device_secret)
    }
}

/// The devices tests and demos use unless told otherwise.
pub fn default_devices() -> Vec<Device> {
    vec![
        Device::new("a1TestPK001", "device1", "s3cr3tDeviceSecretForTests0001"),
        Device::new("a1TestPK001", "device2", "s3cr3tDeviceSecretForTests0002"),
    ]
}

/// Upper-case hex HMAC-SHA256(deviceSecret, `clientId<pk>.<dn>deviceName<dn>productKey<pk>timestamp2524608000000`).
pub fn aliyun_password(pk: &str, dn: &str, ds: &str) -> String {
    let msg = format!("clientId{pk}.{dn}deviceName{dn}productKey{pk}timestamp2524608000000");
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(ds.as_bytes()).expect("any key length");
    mac.update(msg.as_bytes());
    mac.finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn password_vector() {
        // printf 'clientIda1TestPK001.device1deviceNamedevice1productKeya1TestPK001timestamp2524608000000' \
        //   | openssl dgst -sha256 -hmac s3cr3tDeviceSecretForTests0001
        assert_eq!(
            aliyun_password("a1TestPK001", "device1", "s3cr3tDeviceSecretForTests0001"),
            "25278B5CD3B65FC27724D8E919F004DF841D3AA143EEEC329471FD33066C1B06"
        );
    }

    #[test]
    fn parse_triples() {
        assert_eq!(Device::parse("p/d/s").unwrap(), Device::new("p", "d", "s"));
        assert!(Device::parse("p/d").is_err());
        assert!(Device::parse("p//s").is_err());
    }
}
