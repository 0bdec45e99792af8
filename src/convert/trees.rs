//! Trees per platform, loaded once on first use: a dependency with `platform:` (or a target with
//! `buildPlatform:`) needs the tree rendered for another platform.

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};

use crate::spec::platform::{self, Platform};
use crate::spec::LoadError;
use crate::tree::{self, FileSet, LoadOptions, Tree};

/// The trees of one file set, one per supported platform.
pub struct Trees {
    files: FileSet,
    options: LoadOptions,
    loaded: BTreeMap<Platform, OnceLock<Result<Arc<Tree>, LoadError>>>,
}

impl Trees {
    /// `options.platform` is ignored: each platform gets its own load.
    pub fn new(files: FileSet, options: LoadOptions) -> Trees {
        Trees {
            files,
            options,
            loaded: platform::supported()
                .map(|p| (p, OnceLock::new()))
                .collect(),
        }
    }

    /// The files the trees are loaded from.
    pub fn files(&self) -> &FileSet {
        &self.files
    }

    /// The options every load uses (the platform aside).
    pub fn options(&self) -> &LoadOptions {
        &self.options
    }

    /// The tree for `platform`, loaded on first use; an unsupported platform is a load error.
    pub fn get(&self, platform: &Platform) -> Result<Arc<Tree>, LoadError> {
        let load = || {
            let mut options = self.options.clone();
            options.platform = platform.clone();
            tree::load(&self.files, &options).map(Arc::new)
        };
        match self.loaded.get(platform) {
            Some(slot) => slot.get_or_init(load).clone(),
            None => load(),
        }
    }
}
