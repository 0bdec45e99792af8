//! The SPDX document of a target's `sbom:` step comes back as the image's in-toto SBOM
//! attestation: after `--push`, `docker buildx imagetools inspect --format '{{ json .SBOM }}'`
//! shows it for each platform, with no scanner image involved.

mod common;

use common::fixture::{FrontendFixture, EXTENSION, PLATFORMS};
use serde_json::Value;

const SBOM: &str = "    sbom:
      outputPath: /rootfs/usr/local/share/spdx/fixture-ext.spdx.json
      version: 0.3.1
      cpes:
        - cpe:2.3:a:kiln:fixture-ext:0.3.1:*:*:*:*:*:*:*
      purl: pkg:generic/fixture-ext@0.3.1
      licenses:
        - MIT
finalize:";

#[test]
fn the_sbom_step_is_the_pushed_images_sbom_attestation() {
    let Some(env) = common::require_kiln() else {
        return;
    };
    let fx = FrontendFixture::new();
    fx.edit("fixture-ext/pkg.yaml", "finalize:", SBOM);
    let repo = format!("kiln-e2e/{}", common::unique_name("sbom"));
    let reference = env.registry.reference(&repo, "v1");
    fx.build()
        .build_arg("SOURCE_DATE_EPOCH", "1700000000")
        .tag(&reference)
        .push()
        .run()
        .assert_success();

    let out = common::docker(&[
        "buildx",
        "imagetools",
        "inspect",
        &reference,
        "--format",
        "{{ json .SBOM }}",
    ]);
    out.assert_success();
    let start = out.output.find('{').expect("JSON output");
    let sbom: Value = serde_json::from_str(out.output[start..].trim())
        .unwrap_or_else(|e| panic!("{e}: {}", out.output));
    for platform in PLATFORMS {
        let doc = &sbom[platform]["SPDX"];
        assert_eq!(doc["spdxVersion"], "SPDX-2.3", "{platform}: {sbom}");
        assert_eq!(doc["name"], format!("sidero-pkgs-{EXTENSION}"));
        assert_eq!(doc["creationInfo"]["created"], "2023-11-14T22:13:20Z");
        let package = &doc["packages"][0];
        assert_eq!(package["name"], EXTENSION);
        assert_eq!(package["versionInfo"], "0.3.1");
        assert_eq!(package["licenseDeclared"], "MIT");
        assert_eq!(
            package["externalRefs"][1]["referenceLocator"],
            "pkg:generic/fixture-ext@0.3.1"
        );
        // The fixture's one source, with the checksums its pkg.yaml pins.
        let source = format!("{}/payload.txt", fx.sources_url());
        assert_eq!(package["downloadLocation"], source.as_str());
        assert_eq!(doc["files"][0]["fileName"], source.as_str());
        assert_eq!(
            doc["files"][0]["checksums"][0]["checksumValue"],
            "5f51aac4982c5927007cf9ff26dd56dafb7e788428cc910c7ceda440189be163"
        );
    }
}
