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

/// The operating system a Lambda runtime runs on, and so the newest glibc a native library
/// in a layer may need. From the AWS Lambda runtimes page ("Supported runtimes", the
/// Operating system column: <https://docs.aws.amazon.com/lambda/latest/dg/lambda-runtimes.html>):
/// python3.9 to 3.11 and nodejs18.x run on Amazon Linux 2 (glibc 2.26); python3.12 and later
/// and nodejs20.x and later on Amazon Linux 2023 (glibc 2.34).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LambdaOs {
    AmazonLinux2,
    AmazonLinux2023,
}

impl LambdaOs {
    /// The glibc version (major, minor) the OS ships.
    pub fn glibc(self) -> (u32, u32) {
        match self {
            LambdaOs::AmazonLinux2 => (2, 26),
            LambdaOs::AmazonLinux2023 => (2, 34),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            LambdaOs::AmazonLinux2 => "Amazon Linux 2",
            LambdaOs::AmazonLinux2023 => "Amazon Linux 2023",
        }
    }
}

/// The OS `runtime` runs on, for the runtimes a layer can be built for (Python 3.9 and
/// later, Node.js 18 and later); `None` for any other.
pub fn runtime_os(runtime: &str) -> Option<LambdaOs> {
    let (family, version) = if let Some(v) = runtime.strip_prefix("python3.") {
        ("python", v.parse::<u32>().ok()?)
    } else if let Some(v) = runtime
        .strip_prefix("nodejs")
        .and_then(|v| v.strip_suffix(".x"))
    {
        ("nodejs", v.parse::<u32>().ok()?)
    } else {
        return None;
    };
    if !RUNTIMES.contains(&runtime) {
        return None;
    }
    match (family, version) {
        ("python", 9..=11) | ("nodejs", 18) => Some(LambdaOs::AmazonLinux2),
        ("python", 12..) | ("nodejs", 20..) => Some(LambdaOs::AmazonLinux2023),
        _ => None,
    }
}

/// The manylinux platform tags a wheel for `architecture` (`x86_64` or `arm64`) may carry to
/// run on an OS with `glibc`, newest first: `manylinux_2_Y_<arch>` from the OS's glibc down to
/// the oldest manylinux of that architecture, then the legacy aliases (PEP 600: manylinux2014
/// is manylinux_2_17, manylinux2010 2_12, manylinux1 2_5). pip does not widen a
/// `manylinux_2_Y` tag given with `--platform` to the older ones, so every tag is listed.
pub fn manylinux_tags(glibc: (u32, u32), architecture: &str) -> Vec<String> {
    let (arch, oldest) = match architecture {
        "arm64" => ("aarch64", 17),
        _ => ("x86_64", 5),
    };
    let mut tags: Vec<String> = (oldest..=glibc.1)
        .rev()
        .map(|minor| format!("manylinux_{}_{minor}_{arch}", glibc.0))
        .collect();
    for (alias, minor) in [
        ("manylinux2014", 17),
        ("manylinux2010", 12),
        ("manylinux1", 5),
    ] {
        if minor >= oldest && minor <= glibc.1 {
            tags.push(format!("{alias}_{arch}"));
        }
    }
    tags
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runtimes_map_to_the_os_they_run_on() {
        assert_eq!(runtime_os("python3.9"), Some(LambdaOs::AmazonLinux2));
        assert_eq!(runtime_os("python3.11"), Some(LambdaOs::AmazonLinux2));
        assert_eq!(runtime_os("python3.12"), Some(LambdaOs::AmazonLinux2023));
        assert_eq!(runtime_os("python3.14"), Some(LambdaOs::AmazonLinux2023));
        assert_eq!(runtime_os("nodejs18.x"), Some(LambdaOs::AmazonLinux2));
        assert_eq!(runtime_os("nodejs22.x"), Some(LambdaOs::AmazonLinux2023));
        assert_eq!(runtime_os("python3.8"), None);
        assert_eq!(runtime_os("python3.99"), None);
        assert_eq!(runtime_os("java21"), None);
        assert_eq!(LambdaOs::AmazonLinux2.glibc(), (2, 26));
        assert_eq!(LambdaOs::AmazonLinux2023.glibc(), (2, 34));
    }

    #[test]
    fn manylinux_tags_run_from_the_os_glibc_down_to_the_oldest() {
        let arm = manylinux_tags((2, 34), "arm64");
        assert_eq!(arm.first().unwrap(), "manylinux_2_34_aarch64");
        assert_eq!(
            &arm[arm.len() - 2..],
            ["manylinux_2_17_aarch64", "manylinux2014_aarch64"]
        );
        assert_eq!(arm.len(), 34 - 17 + 1 + 1);
        let x86 = manylinux_tags((2, 26), "x86_64");
        assert_eq!(x86.first().unwrap(), "manylinux_2_26_x86_64");
        assert!(!x86.iter().any(|t| t.contains("2_28")));
        assert_eq!(
            &x86[x86.len() - 4..],
            [
                "manylinux_2_5_x86_64",
                "manylinux2014_x86_64",
                "manylinux2010_x86_64",
                "manylinux1_x86_64"
            ]
        );
    }

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
