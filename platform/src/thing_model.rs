//! A product's thing model (Aliyun's TSL, "Thing Specification Language", as the console exports
//! it) and the check of reported properties against it.
//!
//! Only what the check needs is read: `properties[].identifier` and
//! `properties[].dataType.type`. A model file is optional; without one every property is
//! accepted.
//!
//! Error codes (where they come from):
//! - 6304 `tsl parse: params not exist`: Aliyun's data-forwarding documentation ("Data formats",
//!   property post with `checkFailedData`) shows this code and text for a property the TSL does
//!   not define.
//! - 6306 `tsl parse: data type is not int` and 6310 `tsl parse: data type is not string`:
//!   the same `checkFailedData` entries as Aliyun emits them for an int / text property given a
//!   value of another type (seen in published captures of Aliyun's forwarded messages). In Alink
//!   `bool` (0 or 1) and `enum` are int-valued, so they share 6306; `date` is a string of
//!   milliseconds, so it shares 6310.
//! - 460 `request parameter error`: Aliyun's general code for "the parameter format is
//!   invalid" ("Error codes for devices", table 1); used for float/double/struct/array values
//!   of the wrong kind and for `params` that is not an object, where we found no more specific
//!   documented code.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::Value;

/// Unknown property (Aliyun TSL check).
pub const CODE_PARAMS_NOT_EXIST: u32 = 6304;
/// Not an integer for an int, bool or enum property.
pub const CODE_NOT_INT: u32 = 6306;
/// Not a string for a text or date property.
pub const CODE_NOT_STRING: u32 = 6310;
/// Request parameter error (general).
pub const CODE_BAD_PARAMS: u32 = 460;

/// One failed property: its identifier, the code and Aliyun's text for it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    pub property: String,
    pub code: u32,
    pub message: &'static str,
}

/// The property types of one product.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ThingModel {
    /// identifier -> dataType.type (`int`, `float`, `double`, `text`, `date`, `bool`, `enum`,
    /// `struct`, `array`).
    pub properties: BTreeMap<String, String>,
}

/// The folder of model files: `<state-dir>/thing-model/<productKey>.json`.
pub fn model_dir(state_dir: &Path) -> PathBuf {
    state_dir.join("thing-model")
}

impl ThingModel {
    /// Parses a TSL JSON text.
    pub fn parse(text: &str) -> Result<ThingModel, String> {
        let v: Value = serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
        let props = v
            .get("properties")
            .and_then(Value::as_array)
            .ok_or("no \"properties\" array")?;
        let mut properties = BTreeMap::new();
        for p in props {
            let id = p
                .get("identifier")
                .and_then(Value::as_str)
                .ok_or("a property without \"identifier\"")?;
            let ty = p
                .pointer("/dataType/type")
                .and_then(Value::as_str)
                .ok_or_else(|| format!("property {id} has no dataType.type"))?;
            properties.insert(id.to_owned(), ty.to_owned());
        }
        Ok(ThingModel { properties })
    }

    /// The model of product `pk` in `state_dir`, if it has one (an unreadable file counts as
    /// none; [`install`] checks files when they are given).
    pub fn load(state_dir: &Path, pk: &str) -> Option<ThingModel> {
        if pk.is_empty() || pk.contains(['/', '\\']) || pk.starts_with('.') {
            return None;
        }
        let text = std::fs::read_to_string(model_dir(state_dir).join(format!("{pk}.json"))).ok()?;
        ThingModel::parse(&text).ok()
    }

    /// Checks a property post's `params` (an object of identifier -> value, or identifier ->
    /// `{"value":..,"time":..}`). Returns the failures in identifier order.
    pub fn check(&self, params: &Value) -> Vec<Failure> {
        let Some(obj) = params.as_object() else {
            return vec![Failure {
                property: String::new(),
                code: CODE_BAD_PARAMS,
                message: "request parameter error",
            }];
        };
        let mut out = Vec::new();
        let mut keys: Vec<&String> = obj.keys().collect();
        keys.sort();
        for k in keys {
            let fail = |code, message| Failure {
                property: k.clone(),
                code,
                message,
            };
            let Some(ty) = self.properties.get(k) else {
                out.push(fail(CODE_PARAMS_NOT_EXIST, "tsl parse: params not exist"));
                continue;
            };
            let mut value = &obj[k];
            // Alink's timestamped form of a value.
            if ty != "struct" {
                if let Some(inner) = value.as_object().and_then(|o| o.get("value")) {
                    value = inner;
                }
            }
            if let Some(f) = type_failure(ty, value) {
                out.push(fail(f.0, f.1));
            }
        }
        out
    }
}

/// Code and text when `value` does not fit TSL type `ty` (unknown types accept anything).
fn type_failure(ty: &str, value: &Value) -> Option<(u32, &'static str)> {
    let ok = match ty {
        "int" | "enum" => value.is_i64() || value.is_u64(),
        "bool" => matches!(value.as_u64(), Some(0 | 1)),
        "float" | "double" => value.is_number(),
        "text" => value.is_string(),
        "date" => value
            .as_str()
            .is_some_and(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())),
        "struct" => value.is_object(),
        "array" => value.is_array(),
        _ => true,
    };
    if ok {
        return None;
    }
    Some(match ty {
        "int" | "enum" | "bool" => (CODE_NOT_INT, "tsl parse: data type is not int"),
        "text" | "date" => (CODE_NOT_STRING, "tsl parse: data type is not string"),
        _ => (CODE_BAD_PARAMS, "request parameter error"),
    })
}

/// Copies `file` (checked) as the model of product `pk` into `state_dir`.
pub fn install(state_dir: &Path, pk: &str, file: &Path) -> Result<(), String> {
    let text = std::fs::read_to_string(file).map_err(|e| format!("{}: {e}", file.display()))?;
    ThingModel::parse(&text).map_err(|e| format!("{}: {e}", file.display()))?;
    if pk.is_empty() || pk.contains(['/', '\\']) || pk.starts_with('.') {
        return Err(format!("{pk:?} is not a product key"));
    }
    let dir = model_dir(state_dir);
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    std::fs::write(dir.join(format!("{pk}.json")), text).map_err(|e| format!("{}: {e}", dir.display()))
}

/// Parses `PK=FILE` (the `--thing-model` option).
pub fn parse_model_arg(s: &str) -> Result<(String, PathBuf), String> {
    let (pk, file) = s.split_once('=').ok_or("expected PK=FILE")?;
    if pk.is_empty() || file.is_empty() {
        return Err("expected PK=FILE".into());
    }
    Ok((pk.to_owned(), PathBuf::from(file)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const TSL: &str = r#"{"schema":"x","profile":{"productKey":"pk"},"properties":[
        {"identifier":"LightSwitch","name":"s","accessMode":"rw","dataType":{"type":"bool","specs":{}}},
        {"identifier":"Brightness","dataType":{"type":"int"}},
        {"identifier":"Label","dataType":{"type":"text"}},
        {"identifier":"Temp","dataType":{"type":"float"}},
        {"identifier":"Pos","dataType":{"type":"struct"}}],"events":[],"services":[]}"#;

    #[test]
    fn checks_names_and_types_with_aliyun_codes() {
        let m = ThingModel::parse(TSL).unwrap();
        assert!(m
            .check(&json!({"LightSwitch":1,"Brightness":-3,"Label":"x","Temp":1}))
            .is_empty());
        assert!(m
            .check(&json!({"Brightness":{"value":5,"time":1},"Pos":{"value":1}}))
            .is_empty());
        let f = m.check(&json!({"Nope":1,"Brightness":"15","Label":0,"LightSwitch":2,"Temp":"a"}));
        let codes: Vec<(&str, u32)> = f.iter().map(|f| (f.property.as_str(), f.code)).collect();
        assert_eq!(
            codes,
            [
                ("Brightness", 6306),
                ("Label", 6310),
                ("LightSwitch", 6306),
                ("Nope", 6304),
                ("Temp", 460)
            ]
        );
        assert_eq!(f[3].message, "tsl parse: params not exist");
        assert_eq!(m.check(&json!([1]))[0].code, 460);
    }

    #[test]
    fn model_files_and_arguments() {
        assert!(ThingModel::parse("{}").is_err());
        assert!(ThingModel::parse(r#"{"properties":[{"identifier":"a"}]}"#).is_err());
        assert_eq!(
            parse_model_arg("pk=/tmp/m.json").unwrap(),
            ("pk".to_owned(), PathBuf::from("/tmp/m.json"))
        );
        assert!(parse_model_arg("pk").is_err());
        let dir = std::env::temp_dir().join(format!("aiot-tsl-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("m.json");
        std::fs::write(&f, TSL).unwrap();
        install(&dir, "pk1", &f).unwrap();
        assert_eq!(ThingModel::load(&dir, "pk1").unwrap().properties.len(), 5);
        assert!(ThingModel::load(&dir, "other").is_none());
        assert!(ThingModel::load(&dir, "../x").is_none());
        assert!(install(&dir, "../x", &f).is_err());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
