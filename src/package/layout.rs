//! Warns when a layer's files do not sit where its runtimes look: Lambda unpacks a layer into
//! `/opt`, and a runtime only reads certain folders there, so a misplaced layer imports nothing
//! and nothing says so until a function fails. Pure.

use crate::domain::limits::{SHARED_FOLDERS, runtime_folders};

/// Every folder some runtime reads.
const ALL_FOLDERS: &[&str] = &[
    "python/",
    "nodejs/",
    "java/lib/",
    "ruby/gems/",
    "ruby/lib/",
    "bin/",
    "lib/",
    "extensions/",
];

/// Warnings about where the entries (zip names) sit, for the declared runtimes.
pub(crate) fn layout_warnings(runtimes: &[String], names: &[&str]) -> Vec<String> {
    if names.is_empty() {
        return vec![
            "the layer is empty: no file in path is left after include/exclude; check path and the filters"
                .to_owned(),
        ];
    }
    // Whether any name is in one of the folders: the first found settles it (a count would
    // read every name of a large tree, on one core, after the compression is done).
    let any_under = |folders: &[&str]| {
        names
            .iter()
            .any(|n| folders.iter().any(|f| n.starts_with(f)))
    };
    let mut warnings = Vec::new();
    if runtimes.is_empty() {
        if !any_under(ALL_FOLDERS) {
            warnings.push(format!(
                "no file is in a folder a Lambda runtime reads ({}); e.g. `{}` lands in /opt/{} — set prefix (e.g. `python` for a site-packages folder)",
                ALL_FOLDERS.join(", "),
                names[0],
                names[0]
            ));
        }
        return warnings;
    }
    let mut seen: Vec<&[&str]> = Vec::new();
    for runtime in runtimes {
        let folders = runtime_folders(runtime);
        if seen.contains(&folders) {
            continue;
        }
        seen.push(folders);
        let mut expected: Vec<&str> = folders.to_vec();
        expected.extend_from_slice(SHARED_FOLDERS);
        if !any_under(&expected) {
            let hint = match folders.first() {
                Some(f) if f.starts_with("python") => {
                    " — set prefix: python if path is a site-packages folder"
                }
                Some(f) if f.starts_with("nodejs") => {
                    " — set prefix: nodejs if path holds node_modules"
                }
                Some(f) if f.starts_with("java") => " — set prefix: java/lib if path holds jars",
                Some(f) if f.starts_with("ruby") => {
                    " — set prefix: ruby/gems/<version> if path holds gems"
                }
                _ => " — set prefix: bin or lib",
            };
            warnings.push(format!(
                "none of the {} files is where {runtime} looks ({}): a misplaced layer imports nothing at run time{hint}",
                names.len(),
                expected.join(", "),
            ));
        }
    }
    warnings
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rt(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn python_layer_in_place_gives_no_warning() {
        assert!(layout_warnings(&rt(&["python3.12"]), &["python/requests/__init__.py"]).is_empty());
    }

    #[test]
    fn site_packages_at_the_root_is_flagged_with_the_fix() {
        let w = layout_warnings(
            &rt(&["python3.12", "python3.13"]),
            &["requests/__init__.py"],
        );
        assert_eq!(w.len(), 1, "one warning per runtime family: {w:?}");
        assert!(
            w[0].contains("where python3.12 looks (python/, bin/, lib/, extensions/)"),
            "{}",
            w[0]
        );
        assert!(
            w[0].ends_with("set prefix: python if path is a site-packages folder"),
            "{}",
            w[0]
        );
    }

    #[test]
    fn native_libraries_under_lib_count_for_any_runtime() {
        assert!(layout_warnings(&rt(&["nodejs20.x"]), &["lib/libvips.so"]).is_empty());
    }

    #[test]
    fn each_runtime_family_is_checked() {
        let w = layout_warnings(&rt(&["nodejs20.x", "python3.12"]), &["python/x.py"]);
        assert_eq!(w.len(), 1);
        assert!(w[0].contains("nodejs20.x"), "{}", w[0]);
    }

    #[test]
    fn without_runtimes_any_known_folder_will_do() {
        assert!(layout_warnings(&[], &["bin/tool"]).is_empty());
        let w = layout_warnings(&[], &["tool"]);
        assert!(
            w[0].starts_with("no file is in a folder a Lambda runtime reads"),
            "{}",
            w[0]
        );
    }

    #[test]
    fn empty_layer_is_flagged() {
        assert!(layout_warnings(&[], &[])[0].starts_with("the layer is empty"));
    }
}
