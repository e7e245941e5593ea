//! `aiot-platform prov ...`: products with a product secret, pre-registered device names,
//! activations, HTTP-uplink tokens and the bootstrap notify, from the command line. Works on the
//! state folder's registry (`provision.json`, see `aiot_platform::provision`) whether or not a
//! platform runs on it; `notify` needs the running broker.

use std::path::PathBuf;

use aiot_platform::provision::{
    random_hex, valid_name, FaultKind, Registry, DEFAULT_HUGE_SIZE, MAX_HUGE_SIZE,
};

use crate::dm_cli::{device_of, exchange, new_id, Target};

pub const PROV_LONG_ABOUT: &str = "\
Device provisioning on the local platform (Aliyun's \"one secret per product\").

exec, ota-exec and serve run an HTTPS endpoint (https://localhost:$AIOT_AUTH_PORT, certificate
from AIOT_CA_FILE; the same over plain HTTP on 127.0.0.1:$AIOT_AUTH_HTTP_PORT) with:
  POST /auth/register/device        dynamic registration: form productKey, deviceName, random,
                                    sign = hex HMAC-SHA256(productSecret,
                                    'deviceName<dn>productKey<pk>random<r>') (any case),
                                    signMethod=hmacsha256. Only pre-registered names; answers
                                    {\"code\":200,\"data\":{\"deviceName\":..,\"deviceSecret\":..,
                                    \"productKey\":..},\"message\":\"success\"}, else (HTTP 200,
                                    no deviceSecret) code 6250 unknown product, 6100 unknown or
                                    not pre-registered device, 401 wrong sign, 409 already
                                    activated, 460 missing field
  POST /auth/bootstrap,             {\"code\":200,\"data\":{\"resources\":{\"mqtt\":{\"host\":
  GET /auth/bootstrap/regionId/<r>  \"localhost\",\"port\":<TLS port>}}},\"message\":\"success\"}
  POST /auth?...                    HTTP uplink auth: JSON productKey, deviceName, sign = hex
                                    HMAC-SHA256(deviceSecret, 'clientId<pk>.<dn>deviceName<dn>
                                    productKey<pk>') -> {\"code\":0,..,\"info\":{\"token\":..}};
                                    10000 wrong sign or unknown device, 10001 bad body
  POST /topic/<topic>               header Password: <token>; the body is published on <topic>
                                    (QoS 1) as the token's device -> {\"code\":0,..,\"info\":
                                    {\"messageId\":n}}; 20002 no token, 20003 unknown token,
                                    20001 expired token (`prov expire-token`), 30001 not the
                                    device's topic
Answers: HTTP/1.1, Content-Length, no chunked encoding, connections kept open.

MQTT registration (plain and TLS ports): a CONNECT with client id
'<dn>.<pk>|random=<r>,authType=register|regnwl,securemode=2,signmethod=hmacsha256|', user
'<dn>&<pk>', password = the sign above is accepted (a wrong one: CONNACK refused); the answer
comes without a SUBSCRIBE, then the connection is closed (the session may do nothing else):
  register  /ext/register {\"productKey\":..,\"deviceName\":..,\"deviceSecret\":..}
            (pre-registered, not yet activated names only)
  regnwl    /ext/regnwl {\"clientId\":..,\"productKey\":..,\"deviceName\":..,\"deviceToken\":..}
            (any name; at most 5 activations per name)
The credentials then connect: the device secret as usual, or client id
'<clientId>|authType=connwl,...|', user '<dn>&<pk>', password <deviceToken>.

A device counts as activated once its credentials were handed out (or `device-add
--activated`). exec/ota-exec/serve create the product AIOT_REG_PRODUCT_KEY (secret
AIOT_REG_PRODUCT_SECRET) with the names AIOT_REG_DEVICE_NAME, _NAME2, _NAME3 (fresh) and
AIOT_REG_ACTIVATED_DEVICE_NAME (activated); AIOT_REG_UNKNOWN_DEVICE_NAME is not registered.

  product-add   create a product (prints '<pk> <productSecret>')
  device-add    pre-register device names (prints '<pk>/<dn> <deviceSecret>' each)
  show          products, devices, activations and tokens
  expire-token  expire HTTP-uplink tokens (one, a device's, or all)
  notify        push /sys/<pk>/<dn>/thing/bootstrap/notify {\"id\":..,\"version\":\"1.0\",
                \"params\":{\"cmd\":N}} and print the device's notify_reply (also in thing.log)
  fault         make the next N registration answers hostile (default: none, every answer
                normal); `fault off` disarms. Each answer taken counts down, whatever the
                request asked (not checked); the registry is not changed, except by long-body.
                HTTPS (POST /auth/register/device; the connection is closed after the answer):
                  bad-json     HTTP 200, body not complete JSON
                  no-secret    HTTP 200, {\"code\":200,\"data\":{deviceName,productKey}}
                  huge-secret  HTTP 200, a deviceSecret of --size bytes (default 1 MiB)
                  status-500   HTTP 500 with a JSON body
                  short-body   Content-Length 64 more than the body sent, then close
                  long-body    the real answer (device activated) plus bytes beyond its length
                  no-length    HTTP 200 without Content-Length, then close
                  not-http     an SSH banner instead of HTTP, then close
                With --on auth or --on topic the same HTTPS kinds answer the HTTP uplink's
                POST /auth or POST /topic/... instead (the secret's place taken by the token,
                resp. the messageId; long-body: the real auth answer / a success without
                publishing).
                MQTT (the CONNECT is accepted; the payload on /ext/register or /ext/regnwl, by
                the request's authType; then the usual close):
                  mqtt-bad-json   payload not complete JSON
                  mqtt-no-fields  {deviceName,productKey}: no deviceSecret/clientId/deviceToken
                  mqtt-huge       deviceSecret (or clientId and deviceToken) of --size bytes

Exit status: 0 done; 3 no notify_reply within --timeout-ms; 2 bad arguments or no platform.";

#[derive(clap::Subcommand)]
pub enum ProvCmd {
    /// Create a product with a product secret (random unless --secret); prints pk and secret.
    #[command(name = "product-add")]
    ProductAdd {
        /// The state folder of the platform ($AIOT_STATE_DIR).
        #[arg(long, value_name = "DIR")]
        state_dir: PathBuf,
        /// The product secret (default: 32 random hex digits).
        #[arg(long, value_name = "PS")]
        secret: Option<String>,
        /// The productKey.
        product_key: String,
    },
    /// Pre-register device names of a product (whitelist); prints each device secret.
    #[command(name = "device-add")]
    DeviceAdd {
        /// The state folder of the platform ($AIOT_STATE_DIR).
        #[arg(long, value_name = "DIR")]
        state_dir: PathBuf,
        /// Mark them activated already (registration then answers 409).
        #[arg(long)]
        activated: bool,
        /// The productKey (created with product-add).
        product_key: String,
        /// Device names.
        #[arg(required = true)]
        device_names: Vec<String>,
    },
    /// Show products, devices (pre-registered, activated, how, when) and tokens.
    Show {
        /// The state folder of the platform ($AIOT_STATE_DIR).
        #[arg(long, value_name = "DIR")]
        state_dir: PathBuf,
        /// Print the registry as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Expire HTTP-uplink tokens: --token T, or every token of --device PK/DN, or all.
    #[command(name = "expire-token")]
    ExpireToken {
        /// The state folder of the platform ($AIOT_STATE_DIR).
        #[arg(long, value_name = "DIR")]
        state_dir: PathBuf,
        /// One token.
        #[arg(long, value_name = "TOKEN")]
        token: Option<String>,
        /// Every token of this device (productKey/deviceName).
        #[arg(long, value_name = "PK/DN")]
        device: Option<String>,
    },
    /// Make the next --count registration answers hostile (KIND, or `off` to disarm).
    Fault {
        /// The state folder of the platform ($AIOT_STATE_DIR).
        #[arg(long, value_name = "DIR")]
        state_dir: PathBuf,
        /// How many answers (each registration answered takes one).
        #[arg(long, default_value_t = 1)]
        count: u32,
        /// Bytes of the huge value (huge-secret, mqtt-huge).
        #[arg(long, value_name = "BYTES", default_value_t = DEFAULT_HUGE_SIZE)]
        size: usize,
        /// Which HTTPS requests take it: register (POST /auth/register/device), auth (the
        /// HTTP uplink's POST /auth) or topic (its POST /topic/...).
        #[arg(long, value_enum, default_value = "register")]
        on: aiot_platform::provision::FaultTarget,
        /// bad-json, no-secret, huge-secret, status-500, short-body, long-body, no-length,
        /// not-http, mqtt-bad-json, mqtt-no-fields, mqtt-huge, or off.
        kind: String,
    },
    /// Push the bootstrap notify to a device and print its notify_reply.
    Notify {
        #[command(flatten)]
        target: Target,
        /// The notify's cmd.
        #[arg(long, default_value_t = 0)]
        cmd: u32,
        /// Give up (exit 3) after this many milliseconds without the reply.
        #[arg(long, value_name = "MS", default_value_t = 5000)]
        timeout_ms: u64,
    },
}

fn ensure_state(dir: &std::path::Path) -> Result<(), String> {
    if dir.is_dir() {
        Ok(())
    } else {
        Err(format!("{} is not a state folder", dir.display()))
    }
}

pub fn run(cmd: ProvCmd) -> Result<u8, String> {
    match cmd {
        ProvCmd::ProductAdd {
            state_dir,
            secret,
            product_key,
        } => {
            ensure_state(&state_dir)?;
            if !valid_name(&product_key) {
                return Err(format!("bad productKey {product_key:?}"));
            }
            let secret = secret.unwrap_or_else(|| random_hex(16));
            if secret.is_empty() || secret.contains(char::is_whitespace) {
                return Err("bad --secret".into());
            }
            Registry::update(&state_dir, |r| r.add_product(&product_key, &secret))
                .map_err(|e| e.to_string())?;
            println!("{product_key} {secret}");
            Ok(0)
        }
        ProvCmd::DeviceAdd {
            state_dir,
            activated,
            product_key,
            device_names,
        } => {
            ensure_state(&state_dir)?;
            if let Some(bad) = device_names.iter().find(|d| !valid_name(d)) {
                return Err(format!("bad deviceName {bad:?}"));
            }
            let lines = Registry::update(&state_dir, |r| {
                device_names
                    .iter()
                    .map(|dn| {
                        r.preregister(&product_key, dn, activated).map(|d| {
                            format!(
                                "{product_key}/{dn} {}",
                                d.device_secret.clone().unwrap_or_default()
                            )
                        })
                    })
                    .collect::<Result<Vec<_>, _>>()
            })
            .map_err(|e| e.to_string())??;
            for l in lines {
                println!("{l}");
            }
            Ok(0)
        }
        ProvCmd::Show { state_dir, json } => {
            ensure_state(&state_dir)?;
            let reg = Registry::load(&state_dir);
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&reg).map_err(|e| e.to_string())?
                );
                return Ok(0);
            }
            for (pk, p) in &reg.products {
                println!("product {pk} secret {}", p.product_secret);
                for (dn, d) in &p.devices {
                    let state = if d.activated {
                        format!(
                            "activated via {} at {} ms",
                            d.via.as_deref().unwrap_or("?"),
                            d.activated_at_ms.unwrap_or(0)
                        )
                    } else {
                        "not activated".into()
                    };
                    let kind = if d.preregistered {
                        "pre-registered"
                    } else {
                        "no whitelist"
                    };
                    println!(
                        "  {dn}: {kind}, {state}, secret {}",
                        d.device_secret.as_deref().unwrap_or("-")
                    );
                    for c in &d.nwl {
                        println!("    clientId {} deviceToken {}", c.client_id, c.device_token);
                    }
                }
            }
            if let Some(f) = &reg.fault {
                println!("fault {} for the next {} answer(s)", f.kind.name(), f.remaining);
            }
            for (t, v) in &reg.tokens {
                let state = if v.expired { "expired" } else { "valid" };
                println!("token {t} {}/{} {state}", v.product_key, v.device_name);
            }
            Ok(0)
        }
        ProvCmd::ExpireToken {
            state_dir,
            token,
            device,
        } => {
            ensure_state(&state_dir)?;
            let device = match &device {
                Some(d) => Some(
                    d.split_once('/')
                        .ok_or_else(|| format!("--device {d:?}: expected productKey/deviceName"))?,
                ),
                None => None,
            };
            let n = Registry::update(&state_dir, |r| r.expire_tokens(token.as_deref(), device))
                .map_err(|e| e.to_string())?;
            println!("expired {n} token(s)");
            Ok(0)
        }
        ProvCmd::Fault {
            state_dir,
            count,
            size,
            on,
            kind,
        } => {
            ensure_state(&state_dir)?;
            if size > MAX_HUGE_SIZE {
                return Err(format!("--size {size}: at most {MAX_HUGE_SIZE}"));
            }
            let parsed = match kind.as_str() {
                "off" => None,
                k => Some(
                    <FaultKind as clap::ValueEnum>::from_str(k, false)
                        .map_err(|_| format!("unknown fault kind {k:?}"))?,
                ),
            };
            Registry::update(&state_dir, |r| match parsed {
                Some(k) => r.set_fault_on(k, count, size, on),
                None => r.fault = None,
            })
            .map_err(|e| e.to_string())?;
            match parsed {
                Some(k) if count > 0 => println!("fault {} for the next {count} answer(s)", k.name()),
                _ => println!("fault off"),
            }
            Ok(0)
        }
        ProvCmd::Notify {
            target,
            cmd,
            timeout_ms,
        } => {
            let (pk, dn) = device_of(&target)?;
            let id = new_id();
            let payload = format!("{{\"id\":\"{id}\",\"version\":\"1.0\",\"params\":{{\"cmd\":{cmd}}}}}");
            let topic = format!("/sys/{pk}/{dn}/thing/bootstrap/notify");
            exchange(
                &target.state_dir,
                &topic,
                payload.into_bytes(),
                &format!("{topic}_reply"),
                Some(&id),
                timeout_ms,
                false,
            )
        }
    }
}
