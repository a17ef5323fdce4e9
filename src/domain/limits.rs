//! What Lambda accepts, from `../shared/reference` (the PublishLayerVersion API reference) and
//! the runtimes AWS has added since. Pure data and checks; no I/O.

/// Longest layer name, and longest layer ARN, `PublishLayerVersion` accepts.
pub(crate) const LAYER_NAME_MAX: usize = 140;
/// Longest version description, in characters.
pub(crate) const DESCRIPTION_MAX: usize = 256;
/// Longest `LicenseInfo`, in characters.
pub(crate) const LICENSE_MAX: usize = 512;
pub(crate) const RUNTIMES_MAX: usize = 15;
pub(crate) const ARCHITECTURES_MAX: usize = 2;
pub(crate) const ARCHITECTURES: &[&str] = &["x86_64", "arm64"];
/// Lambda refuses a function whose layers unzip to more than this many bytes.
pub(crate) const UNZIPPED_MAX: u64 = 262_144_000;
/// Largest zip `PublishLayerVersion` takes inline (`Content.ZipFile`); beyond it, S3.
pub(crate) const INLINE_ZIP_MAX: u64 = 50 * 1024 * 1024;

/// `CompatibleRuntimes` values: the reference's list (deprecated ones included, since old
/// layers still declare them) and the runtimes released after it was written.
pub const RUNTIMES: &[&str] = &[
    // From the PublishLayerVersion reference.
    "nodejs",
    "nodejs4.3",
    "nodejs6.10",
    "nodejs8.10",
    "nodejs10.x",
    "nodejs12.x",
    "nodejs14.x",
    "nodejs16.x",
    "java8",
    "java8.al2",
    "java11",
    "python2.7",
    "python3.6",
    "python3.7",
    "python3.8",
    "python3.9",
    "dotnetcore1.0",
    "dotnetcore2.0",
    "dotnetcore2.1",
    "dotnetcore3.1",
    "dotnet6",
    "dotnet8",
    "nodejs4.3-edge",
    "go1.x",
    "ruby2.5",
    "ruby2.7",
    "provided",
    "provided.al2",
    "nodejs18.x",
    "python3.10",
    "java17",
    "ruby3.2",
    "python3.11",
    "nodejs20.x",
    "provided.al2023",
    "python3.12",
    "java21",
    // Released since.
    "python3.13",
    "python3.14",
    "nodejs22.x",
    "nodejs24.x",
    "ruby3.3",
    "ruby3.4",
    "java25",
    "dotnet10",
];

/// Whether `name` is a valid `LayerName`: a plain name, or a layer ARN, per the API's pattern
/// `(arn:[a-zA-Z0-9-]+:lambda:[a-zA-Z0-9-]+:\d{12}:layer:[a-zA-Z0-9-_]+)|[a-zA-Z0-9-_]+`.
pub(crate) fn is_valid_layer_name(name: &str) -> bool {
    if name.is_empty() || name.chars().count() > LAYER_NAME_MAX {
        return false;
    }
    if name.starts_with("arn:") {
        crate::domain::arn::LayerArn::parse(name).is_some()
    } else {
        is_plain_layer_name(name)
    }
}

fn is_plain_layer_name(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// The closest known runtime to a misspelt one, for "did you mean".
pub(crate) fn closest_runtime(given: &str) -> Option<&'static str> {
    let given = given.to_ascii_lowercase();
    RUNTIMES
        .iter()
        // Ties go to the longest shared beginning: `python3.121` means 3.12, not 3.11.
        .map(|r| {
            (
                edit_distance(&given, r),
                std::cmp::Reverse(common_prefix(&given, r)),
                *r,
            )
        })
        .filter(|(d, _, _)| *d <= 2)
        .min()
        .map(|(_, _, r)| r)
}

fn common_prefix(a: &str, b: &str) -> usize {
    a.chars().zip(b.chars()).take_while(|(x, y)| x == y).count()
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

/// Folders inside a layer where a runtime looks for code, by runtime family. `bin/`, `lib/`
/// and `extensions/` are on every runtime's paths.
pub(crate) fn runtime_folders(runtime: &str) -> &'static [&'static str] {
    if runtime.starts_with("python") {
        &["python/"]
    } else if runtime.starts_with("nodejs") {
        &["nodejs/node_modules/", "nodejs/node"]
    } else if runtime.starts_with("java") {
        &["java/lib/"]
    } else if runtime.starts_with("ruby") {
        &["ruby/gems/", "ruby/lib/"]
    } else {
        &[]
    }
}

/// Folders every runtime reads (`PATH`, `LD_LIBRARY_PATH`, extensions).
pub(crate) const SHARED_FOLDERS: &[&str] = &["bin/", "lib/", "extensions/"];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layer_names_follow_the_api_pattern() {
        assert!(is_valid_layer_name("my-layer_1"));
        assert!(is_valid_layer_name(
            "arn:aws:lambda:us-east-1:123456789012:layer:my-layer"
        ));
        assert!(!is_valid_layer_name(""));
        assert!(!is_valid_layer_name("my layer"));
        assert!(!is_valid_layer_name("my.layer"));
        assert!(!is_valid_layer_name(&"a".repeat(141)));
        assert!(is_valid_layer_name(&"a".repeat(140)));
        assert!(!is_valid_layer_name(
            "arn:aws:lambda:us-east-1:12345:layer:my-layer"
        ));
        assert!(!is_valid_layer_name(
            "arn:aws:lambda:us-east-1:123456789012:layer:my-layer:3"
        ));
    }

    #[test]
    fn short_name_of_an_arn_is_its_last_part() {
        use crate::domain::arn::plain_layer_name;
        assert_eq!(
            plain_layer_name("arn:aws:lambda:us-east-1:123456789012:layer:deps"),
            "deps"
        );
        assert_eq!(plain_layer_name("deps"), "deps");
    }

    #[test]
    fn misspelt_runtime_gets_the_closest_known_one() {
        assert_eq!(closest_runtime("python3.121"), Some("python3.12"));
        assert_eq!(closest_runtime("nodejs20"), Some("nodejs20.x"));
        assert_eq!(closest_runtime("cobol"), None);
    }
}
