//! Rendering of results: text for people (stderr), one JSON document for programs (stdout).
//! Pure: builds strings, writes nothing.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::Serialize;

use crate::config::LayerConfig;
use crate::fingerprint::FingerprintDocument;
use crate::package::{Packaged, human_bytes};

/// What `layerpub package` reports per layer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PackageReport {
    pub layer_name: String,
    pub zip_path: String,
    /// Base64 of the zip's SHA-256: the form Lambda reports as `CodeSha256`.
    pub code_sha256: String,
    pub code_size: u64,
    pub unzipped_size: u64,
    pub file_count: u64,
    pub fingerprint: String,
    pub warnings: Vec<String>,
}

impl PackageReport {
    pub fn new(layer: &LayerConfig, p: &Packaged) -> Self {
        PackageReport {
            layer_name: layer.layer_name.clone(),
            zip_path: p.zip_path.display().to_string(),
            code_sha256: code_sha256(&p.sha256),
            code_size: p.code_size,
            unzipped_size: p.unzipped_size,
            file_count: p.file_count,
            fingerprint: p.document.fingerprint(),
            warnings: p.warnings.clone(),
        }
    }
}

/// What `layerpub fingerprint` reports per layer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FingerprintReport {
    pub layer_name: String,
    pub fingerprint: String,
    pub document: FingerprintDocument,
}

/// Lambda's `CodeSha256`: base64 (standard alphabet, padded) of the raw digest.
pub fn code_sha256(digest: &[u8; 32]) -> String {
    STANDARD.encode(digest)
}

/// The text report of one packaged layer.
pub fn package_text(r: &PackageReport) -> String {
    let mut s = format!("packaged {} into {}\n", r.layer_name, r.zip_path);
    s += &format!("  files        {}\n", r.file_count);
    s += &format!(
        "  unzipped     {} ({} bytes)\n",
        human_bytes(r.unzipped_size),
        r.unzipped_size
    );
    s += &format!(
        "  zip          {} ({} bytes)\n",
        human_bytes(r.code_size),
        r.code_size
    );
    s += &format!("  CodeSha256   {}\n", r.code_sha256);
    s += &format!("  fingerprint  {}\n", r.fingerprint);
    for w in &r.warnings {
        s += &format!("warning: {w}\n");
    }
    s
}

/// One JSON document: the report itself for one layer, `{"layers": [...]}` for several.
pub fn json<T: Serialize>(reports: &[T]) -> String {
    #[derive(Serialize)]
    struct Layers<'a, T> {
        layers: &'a [T],
    }
    let text = match reports {
        [one] => serde_json::to_string_pretty(one),
        many => serde_json::to_string_pretty(&Layers { layers: many }),
    };
    text.expect("reports always serialise") + "\n"
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report() -> PackageReport {
        PackageReport {
            layer_name: "deps".into(),
            zip_path: "deps.zip".into(),
            code_sha256: code_sha256(&[0; 32]),
            code_size: 2048,
            unzipped_size: 10,
            file_count: 1,
            fingerprint: "ab".repeat(32),
            warnings: vec!["careful".into()],
        }
    }

    #[test]
    fn code_sha256_is_padded_standard_base64() {
        assert_eq!(
            code_sha256(&[0; 32]),
            "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="
        );
    }

    #[test]
    fn text_report_lists_sizes_hashes_and_warnings() {
        let t = package_text(&report());
        assert!(t.starts_with("packaged deps into deps.zip\n"), "{t}");
        assert!(t.contains("  zip          2.0 KiB (2048 bytes)\n"), "{t}");
        assert!(t.ends_with("warning: careful\n"), "{t}");
    }

    #[test]
    fn json_is_an_object_for_one_layer_and_a_list_for_several() {
        let one: serde_json::Value = serde_json::from_str(&json(&[report()])).unwrap();
        assert_eq!(one["code_size"], 2048);
        let two: serde_json::Value = serde_json::from_str(&json(&[report(), report()])).unwrap();
        assert_eq!(two["layers"].as_array().unwrap().len(), 2);
    }
}
