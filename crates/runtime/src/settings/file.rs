//! The file layer of the settings: the first present of `INTEGRAMON_CONFIG`, `CONFIG_JSON_B64`
//! and the secrets file, read with the `config` crate into flat, lower-cased keys.

use std::collections::HashMap;
use std::path::Path;

use base64::Engine as _;
use config::{Config, File, FileFormat};

use super::{SECRETS_FILE, SettingsError, invalid};

pub(super) type FileLayer = (HashMap<String, String>, Option<String>);

pub(super) fn file_layer(env: &HashMap<String, String>) -> Result<FileLayer, SettingsError> {
    let nonempty = |k: &str| env.get(k).filter(|v| !v.trim().is_empty()).cloned();
    if let Some(path) = nonempty("INTEGRAMON_CONFIG") {
        let format = match Path::new(&path).extension().and_then(|e| e.to_str()) {
            Some("toml") => FileFormat::Toml,
            Some("yaml" | "yml") => FileFormat::Yaml,
            Some("json") => FileFormat::Json,
            _ => {
                return Err(invalid(
                    "INTEGRAMON_CONFIG",
                    path,
                    "a .toml, .yaml, .yml or .json file",
                ));
            }
        };
        let text = std::fs::read_to_string(&path).map_err(|e| SettingsError::Unreadable {
            path: path.clone(),
            reason: e.to_string(),
        })?;
        let name = format!("INTEGRAMON_CONFIG={path}");
        return Ok((flat_values(text, format, &name)?, Some(name)));
    }
    if let Some(b64) = nonempty("CONFIG_JSON_B64") {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(b64.trim())
            .map_err(|e| SettingsError::BadBase64(e.to_string()))?;
        let text = String::from_utf8(bytes).map_err(|_| SettingsError::BadFile {
            source_name: "CONFIG_JSON_B64".into(),
            format: "JSON",
            reason: "not UTF-8".into(),
        })?;
        let name = "CONFIG_JSON_B64".to_string();
        return Ok((flat_values(text, FileFormat::Json, &name)?, Some(name)));
    }
    let secrets = nonempty("APP_CONFIG_FILE").unwrap_or_else(|| SECRETS_FILE.to_string());
    if Path::new(&secrets).is_file() {
        let text = std::fs::read_to_string(&secrets).map_err(|e| SettingsError::Unreadable {
            path: secrets.clone(),
            reason: e.to_string(),
        })?;
        return Ok((
            flat_values(text, FileFormat::Json, &secrets)?,
            Some(secrets),
        ));
    }
    Ok((HashMap::new(), None))
}

/// Parse a settings file with the `config` crate into flat, lower-cased keys. A broken file stops
/// start-up with its own error rather than a vague one later.
fn flat_values(
    text: String,
    format: FileFormat,
    name: &str,
) -> Result<HashMap<String, String>, SettingsError> {
    let bad = |reason: String| SettingsError::BadFile {
        source_name: name.to_string(),
        format: match format {
            FileFormat::Toml => "TOML",
            FileFormat::Yaml => "YAML",
            _ => "JSON",
        },
        reason,
    };
    if format == FileFormat::Json {
        let value: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| bad(e.to_string()))?;
        if !value.is_object() {
            return Err(bad("expected a JSON object of settings".into()));
        }
    }
    let parsed = Config::builder()
        .add_source(File::from_str(&text, format))
        .build()
        .map_err(|e| bad(e.to_string()))?;
    let table: HashMap<String, config::Value> =
        parsed.try_deserialize().map_err(|e| bad(e.to_string()))?;
    let mut values = HashMap::new();
    for (key, value) in table {
        let text = value.into_string().map_err(|_| {
            bad(format!(
                "{key} must be a plain value (text, number or boolean), not a list or table"
            ))
        })?;
        values.insert(key.to_ascii_lowercase(), text);
    }
    Ok(values)
}
