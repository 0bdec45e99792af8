//! Trees per platform, loaded once on first use: a dependency with `platform:` (or a target with
//! `buildPlatform:`) needs the tree rendered for another platform.

use std::sync::{Arc, OnceLock};

use crate::spec::{LoadError, Platform};
use crate::tree::{self, FileSet, LoadOptions, Tree};

pub struct Trees {
    files: FileSet,
    options: LoadOptions,
    loaded: [OnceLock<Result<Arc<Tree>, LoadError>>; 2],
}

impl Trees {
    /// `options.platform` is ignored: each platform gets its own load.
    pub fn new(files: FileSet, options: LoadOptions) -> Trees {
        Trees {
            files,
            options,
            loaded: [OnceLock::new(), OnceLock::new()],
        }
    }

    pub fn files(&self) -> &FileSet {
        &self.files
    }

    pub fn get(&self, platform: Platform) -> Result<Arc<Tree>, LoadError> {
        let slot = match platform {
            Platform::LinuxAmd64 => &self.loaded[0],
            Platform::LinuxArm64 => &self.loaded[1],
        };
        slot.get_or_init(|| {
            let mut options = self.options.clone();
            options.platform = platform;
            tree::load(&self.files, &options).map(Arc::new)
        })
        .clone()
    }
}
