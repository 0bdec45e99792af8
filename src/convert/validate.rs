//! The validation stage: kiln's own binary, from its image, checks the built image against
//! Talos' extension rules on the real filesystem, natively (no emulation) and with no network.

use kiln_llb::{Exec, Mount, NetworkMode, OpBuilder, Output};

use super::{helper, ConvertError, Converter};
use crate::spec::Platform;

/// Options of the validation stage (from build args `TALOS_VERSION`, `KERNEL_RELEASE`,
/// `KERNEL_MODULE_SIGNER`, `KERNEL_MODULE_KEY_ID`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ValidateOptions {
    pub talos_version: Option<String>,
    pub kernel_release: Option<String>,
    pub module_signer: Option<String>,
    pub module_key_id: Option<String>,
}

impl ValidateOptions {
    /// The options as the build args give them; `talos_version` is checked by the caller.
    pub fn from_build_args(build_args: &std::collections::BTreeMap<String, String>) -> Self {
        ValidateOptions {
            talos_version: build_args.get("TALOS_VERSION").cloned(),
            kernel_release: build_args.get("KERNEL_RELEASE").cloned(),
            module_signer: build_args.get("KERNEL_MODULE_SIGNER").cloned(),
            module_key_id: build_args.get("KERNEL_MODULE_KEY_ID").cloned(),
        }
    }
}

/// Where the image under test is mounted inside the validation exec.
pub const IMAGE_MOUNT: &str = "/image";

pub(super) fn stage(
    conv: &mut Converter<'_>,
    target: &str,
    platform: &Platform,
    image: &Output,
    opts: &ValidateOptions,
) -> Result<Output, ConvertError> {
    let tree = conv.trees.get(platform)?;
    let package = &tree.packages[target];
    let source = conv.source_map(package);
    let args = helper::Validate {
        image: IMAGE_MOUNT.to_string(),
        report: "/out/validation.txt".to_string(),
        pkg_name: target.to_string(),
        talos_version: opts.talos_version.clone(),
        kernel_release: opts.kernel_release.clone(),
        module_signer: opts.module_signer.clone(),
        module_key_id: opts.module_key_id.clone(),
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
    result.output("/out").ok_or_else(|| ConvertError::Package {
        file: package.file.clone(),
        span: package.pkg.span,
        message: "the validation exec has no output".to_string(),
    })
}
