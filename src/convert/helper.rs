//! The contract of kiln's own binary inside builds: the commands the converter writes into LLB
//! execs, as typed values. [`crate::cli`] parses the same command names and flags (it takes them
//! from here), and a test parses every argv built here with the real command line.

/// Where kiln's own binary sits in its image.
pub const BINARY: &str = "/kiln";

/// The command that checks a download's sha512, then copies it.
pub const VERIFY_SHA512: &str = "verify-sha512";

/// The command that checks an image against Talos' rules.
pub const VALIDATE: &str = "validate";

/// `validate` flag: pass (saying so) when the directory is not an extension.
pub const IF_EXTENSION: &str = "if-extension";

/// `validate` flag: also write the verdict to this file.
pub const REPORT: &str = "report";

/// `kiln verify-sha512 FILE SHA512 DEST`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifySha512 {
    /// The downloaded file.
    pub file: String,
    /// The checksum pkg.yaml gives, in hex.
    pub sha512: String,
    /// Where to copy the file once it matches.
    pub dest: String,
}

impl VerifySha512 {
    /// The exec's argv.
    pub fn argv(&self) -> Vec<String> {
        vec![
            BINARY.into(),
            VERIFY_SHA512.into(),
            self.file.clone(),
            self.sha512.clone(),
            self.dest.clone(),
        ]
    }
}

/// What an image is checked against: each value comes from its build arg and goes to its
/// `kiln validate` flag (of `kiln_validate::cli::Args`), which this type pairs in one place.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Checks {
    /// `TALOS_VERSION` → `--talos-version`: the Talos version (or range) to check against.
    pub talos_version: Option<String>,
    /// `KERNEL_RELEASE` → `--kernel-release`: the kernel release directory modules must sit in.
    pub kernel_release: Option<String>,
    /// `KERNEL_MODULE_SIGNER` → `--module-signer`: the issuer every module must be signed by.
    pub module_signer: Option<String>,
    /// `KERNEL_MODULE_KEY_ID` → `--module-key-id`: the key every module must be signed with.
    pub module_key_id: Option<String>,
}

impl Checks {
    /// The checks the build args ask for (values as given; the caller checks `TALOS_VERSION`).
    pub fn from_build_args(build_args: &std::collections::BTreeMap<String, String>) -> Self {
        Checks {
            talos_version: build_args.get("TALOS_VERSION").cloned(),
            kernel_release: build_args.get("KERNEL_RELEASE").cloned(),
            module_signer: build_args.get("KERNEL_MODULE_SIGNER").cloned(),
            module_key_id: build_args.get("KERNEL_MODULE_KEY_ID").cloned(),
        }
    }

    /// The flags for the values that are set, in a fixed order.
    fn flags(&self) -> impl Iterator<Item = String> + '_ {
        [
            ("--talos-version", &self.talos_version),
            ("--kernel-release", &self.kernel_release),
            ("--module-signer", &self.module_signer),
            ("--module-key-id", &self.module_key_id),
        ]
        .into_iter()
        .filter_map(|(flag, value)| value.as_ref().map(|v| [flag.to_string(), v.clone()]))
        .flatten()
    }
}

/// `kiln validate IMAGE --if-extension --report FILE --pkg-name NAME …` (the other flags belong
/// to `kiln_validate::cli::Args`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Validate {
    /// The image's root directory.
    pub image: String,
    /// The verdict file.
    pub report: String,
    /// The package whose output is checked.
    pub pkg_name: String,
    /// What the image is checked against.
    pub checks: Checks,
    /// `--if-extension`: validate only an image shaped like an extension.
    pub if_extension: bool,
    /// `--decision`: the line saying why the image is (maybe) validated.
    pub decision: Option<String>,
}

impl Validate {
    /// The exec's argv.
    pub fn argv(&self) -> Vec<String> {
        let mut argv = vec![BINARY.into(), VALIDATE.into(), self.image.clone()];
        if self.if_extension {
            argv.push(format!("--{IF_EXTENSION}"));
        }
        if let Some(d) = &self.decision {
            argv.extend(["--decision".to_string(), d.clone()]);
        }
        argv.extend([
            format!("--{REPORT}"),
            self.report.clone(),
            "--pkg-name".into(),
            self.pkg_name.clone(),
        ]);
        argv.extend(self.checks.flags());
        argv
    }
}
