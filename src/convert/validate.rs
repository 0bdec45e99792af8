//! The validation stage: kiln's own binary, from its image, checks the built image against
//! Talos' extension rules on the real filesystem, natively (no emulation) and with no network.

use kiln_llb::{Exec, Mount, NetworkMode, OpBuilder, Output};

use super::{helper, ConvertError, Converter};
use crate::spec::Platform;

/// Options of the validation stage (from build args `TALOS_VERSION`, `KERNEL_RELEASE`,
/// `KERNEL_MODULE_SIGNER`, `KERNEL_MODULE_KEY_ID`, `KILN_EXTENSION`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ValidateOptions {
    /// What the images are checked against.
    pub checks: helper::Checks,
    /// `KILN_EXTENSION=true|false`: every target is (not) an extension, whatever its files say.
    pub extension: Option<bool>,
}

impl ValidateOptions {
    /// The options as the build args give them; `talos_version` and `KILN_EXTENSION` are
    /// checked by the caller (a malformed `KILN_EXTENSION` counts as unset here).
    pub fn from_build_args(build_args: &std::collections::BTreeMap<String, String>) -> Self {
        ValidateOptions {
            checks: helper::Checks::from_build_args(build_args),
            extension: build_args
                .get(EXTENSION_BUILD_ARG)
                .and_then(|v| parse_extension_arg(v).ok().flatten()),
        }
    }
}

/// The build arg that says whether targets are system extensions.
pub const EXTENSION_BUILD_ARG: &str = "KILN_EXTENSION";

/// Parses `KILN_EXTENSION`: `true`, `false`, or `auto`/empty for "by the output's shape".
pub fn parse_extension_arg(value: &str) -> Result<Option<bool>, String> {
    match value.trim() {
        "true" => Ok(Some(true)),
        "false" => Ok(Some(false)),
        "" | "auto" => Ok(None),
        other => Err(format!(
            "build arg {EXTENSION_BUILD_ARG}={other:?} must be true, false or auto"
        )),
    }
}

/// Whether a target is validated as a Talos system extension, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtensionDecision {
    /// `None`: by the output's shape (`manifest.yaml` beside `rootfs/`), decided in the stage.
    pub extension: Option<bool>,
    /// Where the decision comes from, for people reading the build output.
    pub why: String,
}

impl ExtensionDecision {
    /// The build arg first, then the package's pkg.yaml, then the Pkgfile, else the shape.
    pub fn decide(
        build_arg: Option<bool>,
        package: &crate::tree::Package,
        pkgfile: Option<bool>,
    ) -> ExtensionDecision {
        let said = |value: bool, place: String| ExtensionDecision {
            extension: Some(value),
            why: place,
        };
        if let Some(v) = build_arg {
            return said(v, format!("--build-arg {EXTENSION_BUILD_ARG}={v}"));
        }
        if let Some(v) = package.pkg.extension {
            return said(v, format!("`extension: {v}` in {}", package.file));
        }
        if let Some(v) = pkgfile {
            return said(v, format!("`extension: {v}` in the Pkgfile"));
        }
        ExtensionDecision {
            extension: None,
            why: "by the output's shape: an extension has manifest.yaml beside rootfs/".to_string(),
        }
    }

    /// One line for the build output.
    pub fn describe(&self, target: &str) -> String {
        match self.extension {
            Some(true) => format!(
                "{target} is a Talos system extension ({}): validated as one",
                self.why
            ),
            Some(false) => format!(
                "{target} is not a Talos system extension ({}): not validated",
                self.why
            ),
            None => format!(
                "{target}: validated as a Talos system extension only if it is one, {}",
                self.why
            ),
        }
    }
}

/// Where the image under test is mounted inside the validation exec.
pub const IMAGE_MOUNT: &str = "/image";

/// The validation stage of `target`, or `None` when the target is decided not to be an extension.
pub(super) fn stage(
    conv: &mut Converter<'_>,
    target: &str,
    platform: &Platform,
    image: &Output,
    opts: &ValidateOptions,
    decision: &ExtensionDecision,
) -> Result<Option<Output>, ConvertError> {
    if decision.extension == Some(false) {
        return Ok(None);
    }
    let tree = conv.trees.get(platform)?;
    let package = &tree.packages[target];
    let source = conv.source_map(package);
    let args = helper::Validate {
        image: IMAGE_MOUNT.to_string(),
        report: "/out/validation.txt".to_string(),
        pkg_name: target.to_string(),
        checks: opts.checks.clone(),
        if_extension: decision.extension.is_none(),
        decision: Some(decision.describe(target)),
    }
    .argv();
    let exec = Exec::new(&conv.opts.helper)
        .readonly_root()
        .args(args)
        .network(NetworkMode::None)
        // Identical images of two platforms would otherwise share one vertex, and its failure
        // would surface under one platform only (losing the other's pkg.yaml location).
        .env("KILN_TARGET_PLATFORM", &platform.id())
        .mount(Mount::bind(IMAGE_MOUNT, image).readonly())
        // The verdict file makes the output non-empty: a registry cache cannot hold an empty result,
        // and would then rerun the stage after a prune.
        .mount(Mount::bind("/out", &Output::scratch()))
        .platform(conv.opts.native_platform.clone())
        .custom_name(format!("[{platform}] {target}: validate extension image"))
        .location(
            &source,
            vec![kiln_llb::Range::lines(
                package.pkg.span.line as i32,
                package.pkg.span.end_line as i32,
            )],
        );
    let result = exec.build().map_err(|e| ConvertError::Package {
        file: package.file.clone(),
        span: package.pkg.span,
        message: e.to_string(),
    })?;
    result
        .output("/out")
        .map(Some)
        .ok_or_else(|| ConvertError::Package {
            file: package.file.clone(),
            span: package.pkg.span,
            message: "the validation exec has no output".to_string(),
        })
}
