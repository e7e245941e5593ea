//! The `push` -> `serve` file queue in `<state>/push-queue`: `push` writes `<id>.req` (a
//! [`PushRequest`] as key=value lines) atomically; `serve` picks it up, pushes, and writes
//! `<id>.done` (the topic and payload) or `<id>.err` (why not).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use aiot_platform::firmware::Fault;
use aiot_platform::mqtt_download::{Fault as MotaFault, FaultKind};
use aiot_platform::ota::{Kind, SignMethod};

pub(crate) fn queue_dir(state: &Path) -> PathBuf {
    state.join("push-queue")
}

/// Most images in one job (as ota-exec's --files).
pub(crate) const MAX_IMAGES: usize = 20;

/// `fault` as [`Fault`]'s `from_str` reads it back.
pub(crate) fn fault_text(fault: Fault) -> String {
    match fault {
        Fault::None => "none".to_string(),
        Fault::Drop(n) => format!("drop:{n}"),
        Fault::Corrupt(n) => format!("corrupt:{n}"),
        Fault::Throttle(n) => format!("throttle:{n}"),
        Fault::Status(n) => format!("status:{n}"),
        Fault::Lie(n) => format!("lie:{n}"),
        Fault::DropEvery(n) => format!("drop-every:{n}"),
        Fault::Stall(n) => format!("stall:{n}"),
        Fault::Mute(n) => format!("mute:{n}"),
        Fault::IgnoreRange => "ignore-range".to_string(),
    }
}

/// `text` without the whitespace between its JSON tokens (strings, key order and the spelling of
/// numbers are kept, so the device gets what was given). `text` must be valid JSON.
pub(crate) fn compact_json(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let (mut in_string, mut escaped) = (false, false);
    for c in text.chars() {
        if in_string {
            out.push(c);
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
        } else if c == '"' {
            in_string = true;
            out.push(c);
        } else if !matches!(c, ' ' | '\t' | '\n' | '\r') {
            out.push(c);
        }
    }
    out
}

/// The compact text of `text` when it is a JSON object (the `extData` of a job), else why not.
pub(crate) fn ext_data_object(text: &str) -> Result<String, String> {
    const EXAMPLE: &str = "give an object such as '{\"key\":\"value\"}'";
    let what = match serde_json::from_str::<serde_json::Value>(text) {
        Ok(serde_json::Value::Object(_)) => return Ok(compact_json(text)),
        Err(e) => return Err(format!("is not JSON ({e}); {EXAMPLE}")),
        Ok(serde_json::Value::Array(_)) => "an array",
        Ok(serde_json::Value::String(_)) => "a string",
        Ok(serde_json::Value::Number(_)) => "a number",
        Ok(serde_json::Value::Bool(_)) => "a boolean",
        Ok(serde_json::Value::Null) => "null",
    };
    Err(format!("must be a JSON object, not {what}; {EXAMPLE}"))
}

/// How a job's device gets the image.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Protocol {
    /// A URL on `serve`'s firmware server.
    Https,
    /// Blocks over MQTT (`"dProtocol":"mqtt"`, a stream id instead of a URL), served by
    /// `serve`'s MQTT download service.
    Mqtt,
}

/// One job asked of `serve`: what `push` writes to `<id>.req` and `serve` reads back.
///
/// The file is UTF-8 text, one `key=value` per line; the value runs to the end of the line and is
/// kept as written. Blank lines, lines without `=` and lines starting with `#` are skipped, and
/// unknown keys are ignored (a newer `push` may add some). Keys:
///
/// ```text
/// device=PK/DN              required
/// version=V                 required (the configId for cota)
/// image=/abs/path           required; once per file, in job order (the first is the main image)
/// kind=fota|cota            default fota
/// sign_method=sha256|md5    default sha256
/// fault=none|drop:N|...     default none (as ota-exec's --fault; with protocol=mqtt as
///                           mota-exec's: KIND[:FIRST[:COUNT]], KIND crc, offset, short, ...)
/// module=M                  optional (empty: none)
/// ext_data={...}            optional: a JSON object, on one line
/// protocol=https|mqtt       default https; mqtt: a fota job with one image and no ext_data
/// ```
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct PushRequest {
    pub device: String,
    pub version: String,
    pub images: Vec<PathBuf>,
    pub kind: Kind,
    pub sign_method: SignMethod,
    pub fault: Fault,
    pub module: Option<String>,
    /// A JSON object (compact text).
    pub ext_data: Option<String>,
    pub protocol: Protocol,
    /// The block service's fault (protocol mqtt; `fault` is then none).
    pub mota_fault: MotaFault,
}

impl PushRequest {
    /// What both sides rely on: PK/DN, a version, 1..=20 images (one for cota), an object as
    /// ext_data.
    pub(crate) fn check(&self) -> Result<(), String> {
        match self.device.split_once('/') {
            Some((pk, dn)) if !pk.is_empty() && !dn.is_empty() && !dn.contains('/') => {}
            _ => return Err(format!("device must be PK/DN, not '{}'", self.device)),
        }
        if self.version.is_empty() {
            return Err("the version is empty".into());
        }
        if self.images.is_empty() || self.images.len() > MAX_IMAGES {
            return Err(format!(
                "a job has 1 to {MAX_IMAGES} images, not {}",
                self.images.len()
            ));
        }
        if self.kind == Kind::Cota && self.images.len() > 1 {
            return Err(format!("a cota job takes one image, not {}", self.images.len()));
        }
        if let Some(e) = &self.ext_data {
            ext_data_object(e).map_err(|err| format!("ext_data {err}"))?;
        }
        match self.protocol {
            Protocol::Mqtt => {
                if self.kind != Kind::Fota {
                    return Err("an mqtt job is a firmware job (kind fota)".into());
                }
                if self.images.len() != 1 {
                    return Err(format!("an mqtt job takes one image, not {}", self.images.len()));
                }
                if self.ext_data.is_some() {
                    return Err("an mqtt job has no ext_data".into());
                }
                if self.fault != Fault::None {
                    return Err(
                        "an mqtt job takes a block fault (crc, offset, short, big, drop, dup, slow)".into(),
                    );
                }
            }
            Protocol::Https if self.mota_fault.kind != FaultKind::None => {
                return Err(format!("the block fault {} needs protocol mqtt", self.mota_fault));
            }
            Protocol::Https => {}
        }
        Ok(())
    }

    /// The request file's text.
    pub(crate) fn to_text(&self) -> Result<String, String> {
        self.check()?;
        let mut lines = vec![("device", self.device.clone()), ("version", self.version.clone())];
        for image in &self.images {
            let path = image
                .to_str()
                .ok_or_else(|| format!("{}: the path is not UTF-8", image.display()))?;
            lines.push(("image", path.to_owned()));
        }
        let kind = match self.kind {
            Kind::Fota => "fota",
            Kind::Cota => "cota",
        };
        let sign = match self.sign_method {
            SignMethod::Sha256 => "sha256",
            SignMethod::Md5 => "md5",
        };
        lines.push(("kind", kind.to_owned()));
        lines.push(("sign_method", sign.to_owned()));
        lines.push(match self.protocol {
            Protocol::Https => ("fault", fault_text(self.fault)),
            Protocol::Mqtt => ("fault", self.mota_fault.to_string()),
        });
        if let Some(m) = &self.module {
            lines.push(("module", m.clone()));
        }
        if let Some(e) = &self.ext_data {
            lines.push(("ext_data", compact_json(e)));
        }
        if self.protocol == Protocol::Mqtt {
            lines.push(("protocol", "mqtt".to_owned()));
        }
        let mut text = String::from("# aiot-platform push request\n");
        for (k, v) in lines {
            if v.contains(['\n', '\r']) {
                return Err(format!("the {k} must be one line, not {v:?}"));
            }
            text += &format!("{k}={v}\n");
        }
        Ok(text)
    }

    /// Reads a request file's text; errors name the key at fault.
    pub(crate) fn parse(text: &str) -> Result<PushRequest, String> {
        const SINGLE: [&str; 8] = [
            "device",
            "version",
            "kind",
            "sign_method",
            "fault",
            "module",
            "ext_data",
            "protocol",
        ];
        let mut one: HashMap<&str, &str> = HashMap::new();
        let mut images = Vec::new();
        for line in text.lines() {
            if line.trim_start().starts_with('#') {
                continue;
            }
            let Some((key, value)) = line.split_once('=') else {
                continue;
            };
            let key = key.trim();
            if key == "image" {
                images.push(PathBuf::from(value));
            } else if let Some(k) = SINGLE.iter().find(|k| **k == key) {
                if one.insert(k, value).is_some() {
                    return Err(format!("the request has {key}= twice"));
                }
            }
        }
        let need = |k: &str| {
            one.get(k)
                .map(|v| v.to_string())
                .ok_or_else(|| format!("the request has no {k}= (device=, version= and image= are needed)"))
        };
        let device = need("device")?;
        let version = need("version")?;
        if images.is_empty() {
            return Err("the request has no image= (device=, version= and image= are needed)".into());
        }
        let kind = match one.get("kind").copied() {
            None | Some("fota") => Kind::Fota,
            Some("cota") => Kind::Cota,
            Some(other) => return Err(format!("kind must be fota or cota, not '{other}'")),
        };
        let sign_method = match one.get("sign_method").copied() {
            None | Some("sha256") => SignMethod::Sha256,
            Some("md5") => SignMethod::Md5,
            Some(other) => return Err(format!("sign_method must be sha256 or md5, not '{other}'")),
        };
        let protocol = match one.get("protocol").copied() {
            None | Some("https") => Protocol::Https,
            Some("mqtt") => Protocol::Mqtt,
            Some(other) => return Err(format!("protocol must be https or mqtt, not '{other}'")),
        };
        let (fault, mota_fault) = match (one.get("fault"), protocol) {
            (None, _) => (Fault::None, MotaFault::default()),
            (Some(f), Protocol::Https) => (f.parse()?, MotaFault::default()),
            (Some(f), Protocol::Mqtt) => (
                Fault::None,
                f.parse().map_err(|e| format!("bad block fault '{f}': {e}"))?,
            ),
        };
        let module = one.get("module").filter(|m| !m.is_empty()).map(|m| m.to_string());
        let ext_data = match one.get("ext_data").filter(|e| !e.trim().is_empty()) {
            Some(e) => Some(ext_data_object(e).map_err(|err| format!("ext_data {err}"))?),
            None => None,
        };
        let req = PushRequest {
            device,
            version,
            images,
            kind,
            sign_method,
            fault,
            module,
            ext_data,
            protocol,
            mota_fault,
        };
        req.check()?;
        Ok(req)
    }
}

/// The name an image is served under: its file stem when that is a plain name, else "firmware".
pub(crate) fn image_name(path: &Path) -> String {
    path.file_stem()
        .and_then(|s| s.to_str())
        .filter(|s| !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)))
        .unwrap_or("firmware")
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request() -> PushRequest {
        PushRequest {
            device: "a1TestPK001/device1".into(),
            version: "1.2.0".into(),
            images: vec![
                PathBuf::from("/fw/app.bin"),
                PathBuf::from("/fw/res with space.bin"),
                PathBuf::from("/fw/a=b/dsp.bin"),
            ],
            kind: Kind::Fota,
            sign_method: SignMethod::Md5,
            fault: Fault::Drop(300_000),
            module: Some("mcu".into()),
            ext_data: Some("{\"b\": 1,\n  \"a\": \"x y\\\" z\", \"n\": [1.50, {}]}".into()),
            protocol: Protocol::Https,
            mota_fault: MotaFault::default(),
        }
    }

    #[test]
    fn request_round_trip_multi_file() {
        let req = request();
        let text = req.to_text().unwrap();
        assert_eq!(text.matches("\nimage=").count(), 3, "{text}");
        assert!(
            text.contains("\next_data={\"b\":1,\"a\":\"x y\\\" z\",\"n\":[1.50,{}]}\n"),
            "{text}"
        );
        let back = PushRequest::parse(&text).unwrap();
        // Same request; ext_data compact, its key order and number spelling kept.
        assert_eq!(
            back,
            PushRequest {
                ext_data: Some("{\"b\":1,\"a\":\"x y\\\" z\",\"n\":[1.50,{}]}".into()),
                ..req
            }
        );
        assert_eq!(back.images[1], PathBuf::from("/fw/res with space.bin"));
        assert_eq!(back.images[2], PathBuf::from("/fw/a=b/dsp.bin"));
    }

    #[test]
    fn request_round_trip_cota_and_defaults() {
        let req = PushRequest {
            kind: Kind::Cota,
            sign_method: SignMethod::Sha256,
            images: vec![PathBuf::from("/cfg/config.json")],
            fault: Fault::None,
            module: None,
            ext_data: None,
            ..request()
        };
        let text = req.to_text().unwrap();
        assert!(
            text.contains("\nkind=cota\n") && !text.contains("module="),
            "{text}"
        );
        assert_eq!(PushRequest::parse(&text).unwrap(), req);
        // Each fault reads back.
        for fault in [
            Fault::Corrupt(5),
            Fault::Throttle(1000),
            Fault::Status(404),
            Fault::Lie(10),
        ] {
            let req = PushRequest { fault, ..request() };
            assert_eq!(PushRequest::parse(&req.to_text().unwrap()).unwrap().fault, fault);
        }
        // Only the needed keys: the defaults.
        let min = PushRequest::parse("device=pk/dn\nversion=2\nimage=/x.bin\n").unwrap();
        assert_eq!(
            (min.kind, min.sign_method, min.fault, min.module, min.ext_data),
            (Kind::Fota, SignMethod::Sha256, Fault::None, None, None)
        );
    }

    #[test]
    fn request_parsing_is_robust() {
        // Unknown keys, comments, blank lines, lines without '=', CRLF and an empty module.
        let text = "# hand-written\r\n\r\nfuture_key=whatever\r\njunk line\r\n device =pk/dn\r\n\
                    version=3.0\r\nimage=/a.bin\r\nimage=/b.bin\r\nmodule=\r\next_data=\r\n";
        let req = PushRequest::parse(text).unwrap();
        assert_eq!(req.device, "pk/dn");
        assert_eq!(req.images, vec![PathBuf::from("/a.bin"), PathBuf::from("/b.bin")]);
        assert_eq!((req.module, req.ext_data), (None, None));

        let err = |text: &str| PushRequest::parse(text).unwrap_err();
        let base = "device=pk/dn\nversion=1\nimage=/a.bin\n";
        assert!(err("version=1\nimage=/a.bin\n").contains("no device="));
        assert!(err("device=pk/dn\nimage=/a.bin\n").contains("no version="));
        assert!(err("device=pk/dn\nversion=1\n").contains("no image="));
        assert!(err("").contains("no device="));
        assert!(err(&format!("{base}version=2\n")).contains("version= twice"));
        assert!(err(&format!("{base}kind=sota\n")).contains("kind must be fota or cota"));
        assert!(err(&format!("{base}sign_method=crc\n")).contains("sign_method must be"));
        assert!(err(&format!("{base}fault=melt:1\n")).contains("bad fault"));
        assert!(err(&format!("{base}ext_data=[1]\n")).contains("ext_data must be a JSON object"));
        assert!(err(&format!("{base}ext_data={{\n")).contains("ext_data is not JSON"));
        assert!(err(&format!("{base}kind=cota\nimage=/b.bin\n")).contains("one image"));
        assert!(err("device=pkdn\nversion=1\nimage=/a.bin\n").contains("PK/DN"));
        assert!(err("device=pk/dn\nversion=\nimage=/a.bin\n").contains("version is empty"));
        let many: String = (0..21).map(|i| format!("image=/{i}.bin\n")).collect();
        assert!(err(&format!("device=pk/dn\nversion=1\n{many}")).contains("1 to 20 images"));
    }

    #[test]
    fn request_writer_refuses_what_it_cannot_write() {
        let req = PushRequest {
            version: "1.0\nimage=/etc/passwd".into(),
            ..request()
        };
        assert!(req.to_text().unwrap_err().contains("version must be one line"));
        let req = PushRequest {
            module: Some("m\r".into()),
            ..request()
        };
        assert!(req.to_text().unwrap_err().contains("module must be one line"));
        let req = PushRequest {
            ext_data: Some("\"text\"".into()),
            ..request()
        };
        assert!(req.to_text().unwrap_err().contains("not a string"));
        let req = PushRequest {
            kind: Kind::Cota,
            ..request()
        };
        assert!(req.to_text().unwrap_err().contains("cota job takes one image"));
    }

    #[test]
    fn request_round_trip_mqtt() {
        let req = PushRequest {
            images: vec![PathBuf::from("/fw/app.bin")],
            fault: Fault::None,
            ext_data: None,
            protocol: Protocol::Mqtt,
            mota_fault: "crc:3:2".parse().unwrap(),
            ..request()
        };
        let text = req.to_text().unwrap();
        assert!(
            text.contains("\nprotocol=mqtt\n") && text.contains("\nfault=crc:3:2\n"),
            "{text}"
        );
        assert_eq!(PushRequest::parse(&text).unwrap(), req);
        let slow =
            PushRequest::parse("device=pk/dn\nversion=2\nimage=/x.bin\nprotocol=mqtt\nfault=slow=500:2\n")
                .unwrap();
        assert_eq!(slow.mota_fault.to_string(), "slow=500:2:1");
        assert_eq!(slow.fault, Fault::None);
        // An https request file (no protocol=) reads as before.
        let min = PushRequest::parse("device=pk/dn\nversion=2\nimage=/x.bin\n").unwrap();
        assert_eq!(
            (min.protocol, min.mota_fault),
            (Protocol::Https, MotaFault::default())
        );
        assert!(!request().to_text().unwrap().contains("protocol="));

        let err = |text: &str| PushRequest::parse(text).unwrap_err();
        let base = "device=pk/dn\nversion=1\nimage=/a.bin\nprotocol=mqtt\n";
        assert!(err(&format!("{base}fault=corrupt:5\n")).contains("bad block fault 'corrupt:5'"));
        assert!(err(&format!("{base}image=/b.bin\n")).contains("mqtt job takes one image, not 2"));
        assert!(err(&format!("{base}kind=cota\n")).contains("kind fota"));
        assert!(err(&format!("{base}ext_data={{}}\n")).contains("no ext_data"));
        assert!(err("device=pk/dn\nversion=1\nimage=/a.bin\nprotocol=ftp\n").contains("https or mqtt"));
        // crc:3 is no firmware-server fault.
        assert!(err("device=pk/dn\nversion=1\nimage=/a.bin\nfault=crc:3\n").contains("bad fault"));
        let req = PushRequest {
            mota_fault: "drop:2".parse().unwrap(),
            ..request()
        };
        assert!(req
            .to_text()
            .unwrap_err()
            .contains("drop:2:1 needs protocol mqtt"));
        let req = PushRequest {
            images: vec![PathBuf::from("/a.bin")],
            ext_data: None,
            protocol: Protocol::Mqtt,
            ..request()
        };
        assert!(req.to_text().unwrap_err().contains("takes a block fault"));
    }

    #[test]
    fn ext_data_must_be_an_object() {
        assert_eq!(
            ext_data_object(" { \"k\" : \"v w\" , \"n\" : null } ").unwrap(),
            "{\"k\":\"v w\",\"n\":null}"
        );
        assert_eq!(ext_data_object("{}").unwrap(), "{}");
        for (bad, why) in [
            ("[1,2]", "not an array"),
            ("\"s\"", "not a string"),
            ("42", "not a number"),
            ("true", "not a boolean"),
            ("null", "not null"),
            ("{\"a\":", "is not JSON"),
            ("key=value", "is not JSON"),
            ("", "is not JSON"),
        ] {
            let e = ext_data_object(bad).unwrap_err();
            assert!(e.contains(why) && e.contains("{\"key\":\"value\"}"), "{bad}: {e}");
        }
    }
}
