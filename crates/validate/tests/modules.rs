//! Kernel module signatures on modules signed as Linux' sign-file does (tests/fixtures/modules,
//! made by its make.sh with OpenSSL): plain, xz and zstd modules, issuer-and-serial and
//! subject-key-id signers, unsigned and foreign-key modules, from a directory and from a tar.

mod common;

use std::io::Write;

use common::*;
use kiln_validate::modsig::{self, ModuleSignature};
use kiln_validate::{rule, Options, Severity::*};

const DIR: &str = "rootfs/usr/lib/modules/6.18.1-talos/extra";

/// Key A's issuer common name and serial number, as make.sh sets them.
const SIGNER_A: &str = "kiln test module key A";
const SERIAL_A: &str = "4B:49:4C:4E:01";

fn signer(name: &str) -> modsig::Signer {
    match modsig::read_file(&module_fixture(name)) {
        ModuleSignature::Signed(s) => s,
        other => panic!("{name}: {other:?}"),
    }
}

/// The subject key identifier of a fixture certificate, from its DER: the OCTET STRING inside the
/// extension whose OID is 2.5.29.14.
fn subject_key_id(cert: &str) -> String {
    let pem = std::fs::read_to_string(module_fixture(cert)).expect("certificate");
    let b64: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    let der = base64_decode(&b64);
    let oid = [0x06, 0x03, 0x55, 0x1d, 0x0e, 0x04];
    let at = der
        .windows(oid.len())
        .position(|w| w == oid)
        .expect("subjectKeyIdentifier extension");
    // OCTET STRING (extnValue) { OCTET STRING keyid }
    let inner = &der[at + oid.len() + 1..];
    assert_eq!(inner[0], 0x04);
    let len = inner[1] as usize;
    inner[2..2 + len]
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

fn base64_decode(text: &str) -> Vec<u8> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = Vec::new();
    let (mut acc, mut bits) = (0u32, 0);
    for c in text.bytes().filter(|c| *c != b'=') {
        let v = ALPHABET.iter().position(|a| *a == c).expect("base64") as u32;
        acc = (acc << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    out
}

#[test]
fn signers_are_read_from_issuer_and_serial_and_from_the_key_id() {
    let a = signer("hello.ko");
    assert_eq!(a.name.as_deref(), Some(SIGNER_A));
    assert_eq!(a.key_id, SERIAL_A);
    assert_eq!(a.hash, "sha256");
    for compressed in ["hello.ko.xz", "hello.ko.zst"] {
        assert_eq!(signer(compressed), a, "{compressed}");
    }
    let by_key_id = signer("hello-keyid.ko");
    assert_eq!(by_key_id.name, None);
    assert_eq!(by_key_id.key_id, subject_key_id("kiln-test-a.crt"));
    assert_eq!(
        signer("other.ko").name.as_deref(),
        Some("kiln test module key B")
    );
    assert_eq!(
        modsig::read_file(&module_fixture("unsigned.ko")),
        ModuleSignature::Unsigned
    );
}

fn image() -> Fixture {
    let f = Fixture::new();
    f.module(&format!("{DIR}/hello.ko"), "hello.ko");
    f.module(&format!("{DIR}/hello-xz.ko.xz"), "hello.ko.xz");
    f.module(&format!("{DIR}/hello-zst.ko.zst"), "hello.ko.zst");
    f.module(&format!("{DIR}/keyid.ko"), "hello-keyid.ko");
    f
}

#[test]
fn signed_modules_pass_and_unsigned_or_foreign_ones_fail_with_their_path() {
    let f = image();
    assert_clean(&f.check());
    // The key id is compared with what each signature names, as modinfo's sig_key shows it: the
    // serial number, or the subject key identifier for keyid.ko.
    let r = f.check_with(&Options {
        module_key_id: Some(SERIAL_A.to_lowercase().replace(':', "")),
        ..Options::default()
    });
    assert_has(
        &r,
        Error,
        &rule::MODULE_SIGNER,
        &format!("{DIR}/keyid.ko"),
        "not by key 4b494c4e01 (--module-key-id / build arg KERNEL_MODULE_KEY_ID)",
    );
    assert_eq!(r.violations.len(), 1, "{}", dump(&r));

    f.module(&format!("{DIR}/unsigned.ko"), "unsigned.ko");
    f.module(&format!("{DIR}/other.ko"), "other.ko");
    // An xz stream cut short is reported, not a panic.
    let xz = std::fs::read(module_fixture("hello.ko.xz")).expect("fixture");
    f.write_bytes(&format!("{DIR}/cut.ko.xz"), &xz[..xz.len() / 2]);
    let r = f.check();
    assert_has(
        &r,
        Error,
        &rule::MODULE_SIGNATURE,
        &format!("{DIR}/unsigned.ko"),
        "is not signed; Talos kernels enforce module signatures",
    );
    assert_has(
        &r,
        Error,
        &rule::MODULE_SIGNATURE,
        &format!("{DIR}/cut.ko.xz"),
        "cannot read the module: xz",
    );
    assert_no(&r, &rule::MODULE_SIGNER);

    let r = f.check_with(&Options {
        module_signer: Some(SIGNER_A.into()),
        ..Options::default()
    });
    assert_has(
        &r,
        Error,
        &rule::MODULE_SIGNER,
        &format!("{DIR}/other.ko"),
        "is signed by \"kiln test module key B\"",
    );
    // The key-id-named signature has no issuer name to compare.
    assert_has(
        &r,
        Error,
        &rule::MODULE_SIGNER,
        &format!("{DIR}/keyid.ko"),
        "",
    );
    let signer_errors: Vec<&str> = r
        .violations
        .iter()
        .filter(|v| v.rule == &rule::MODULE_SIGNER)
        .map(|v| v.path.as_str())
        .collect();
    assert_eq!(signer_errors.len(), 2, "{}", dump(&r));
}

#[test]
fn modules_in_a_tar_are_checked_the_same() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut builder = tar::Builder::new(Vec::new());
    let mut add = |path: &str, data: &[u8]| {
        let mut header = tar::Header::new_gnu();
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        header.set_entry_type(tar::EntryType::Regular);
        builder
            .append_data(&mut header, path, data)
            .expect("append");
    };
    add("manifest.yaml", GOOD_MANIFEST.as_bytes());
    for (name, fixture) in [("a.ko.zst", "hello.ko.zst"), ("b.ko", "unsigned.ko")] {
        let data = std::fs::read(module_fixture(fixture)).expect("fixture");
        add(&format!("{DIR}/{name}"), &data);
    }
    let tar = builder.into_inner().expect("tar");
    let path = dir.path().join("image.tar");
    std::fs::File::create(&path)
        .and_then(|mut f| f.write_all(&tar))
        .expect("write");
    let targets = kiln_validate::load(path.to_str().expect("utf-8"), None).expect("loads");
    let r = kiln_validate::validate(&targets[0].tree, &Options::default());
    assert_has(
        &r,
        Error,
        &rule::MODULE_SIGNATURE,
        &format!("{DIR}/b.ko"),
        "is not signed",
    );
    let errors: Vec<_> = r.errors().collect();
    assert_eq!(errors.len(), 1, "{}", dump(&r));
}

/// A real module from Debian bookworm's signed kernel (`hack/debian-module.sh` fetches it;
/// `hack/test.sh` passes its path in KILN_DEBIAN_MODULE). Debian, like Talos, signs with a key made
/// at kernel build time, so a module from another build carries another serial number.
#[test]
fn a_real_debian_signed_module() {
    let Some(path) = std::env::var_os("KILN_DEBIAN_MODULE") else {
        assert!(
            std::env::var("KILN_E2E").as_deref() != Ok("1"),
            "KILN_E2E=1 but KILN_DEBIAN_MODULE is unset: run hack/debian-module.sh (hack/test.sh does)"
        );
        eprintln!(
            "skipped: KILN_DEBIAN_MODULE is unset (hack/debian-module.sh fetches the module)"
        );
        return;
    };
    let module = std::fs::read(&path).expect("the Debian module");
    let ModuleSignature::Signed(signer) = modsig::read_file(std::path::Path::new(&path)) else {
        panic!("the Debian module is not read as signed");
    };
    assert_eq!(
        signer.name.as_deref(),
        Some("Build time autogenerated kernel key")
    );
    assert_eq!(signer.hash, "sha256");
    // OpenSSL, when present, reads the same serial number from the same signature.
    if let Some(serial) = openssl_serial(&module) {
        assert!(
            modsig::key_id_matches(&signer.key_id, &serial),
            "kiln {} vs openssl {serial}",
            signer.key_id
        );
    }

    // In an image, plain and compressed: clean, and refused for another build's key.
    let f = Fixture::new();
    f.write_bytes(&format!("{DIR}/dummy.ko"), &module);
    let mut xz = Vec::new();
    lzma_rs::xz_compress(&mut &module[..], &mut xz).expect("xz");
    f.write_bytes(&format!("{DIR}/dummy-xz.ko.xz"), &xz);
    f.write_bytes(
        &format!("{DIR}/dummy-zst.ko.zst"),
        &ruzstd::encoding::compress_to_vec(
            &module[..],
            ruzstd::encoding::CompressionLevel::Fastest,
        ),
    );
    assert_clean(&f.check_with(&Options {
        module_key_id: Some(signer.key_id.clone()),
        ..Options::default()
    }));
    let r = f.check_with(&Options {
        module_key_id: Some(SERIAL_A.into()),
        ..Options::default()
    });
    for name in ["dummy.ko", "dummy-xz.ko.xz", "dummy-zst.ko.zst"] {
        assert_has(
            &r,
            Error,
            &rule::MODULE_SIGNER,
            &format!("{DIR}/{name}"),
            "is signed by \"Build time autogenerated kernel key\"",
        );
    }
}

/// The signer's serial number as `openssl cms -cmsout -print` shows it; `None` without openssl.
fn openssl_serial(module: &[u8]) -> Option<String> {
    let n = module.len();
    let info = &module[n - modsig::MARKER.len() - 12..n - modsig::MARKER.len()];
    let sig_len = u32::from_be_bytes([info[8], info[9], info[10], info[11]]) as usize;
    let sig = &module[n - modsig::MARKER.len() - 12 - sig_len..n - modsig::MARKER.len() - 12];
    let dir = tempfile::tempdir().expect("tempdir");
    let sig_path = dir.path().join("sig.der");
    std::fs::write(&sig_path, sig).expect("write");
    let out = std::process::Command::new("openssl")
        .args(["cms", "-cmsout", "-print", "-inform", "DER", "-in"])
        .arg(&sig_path)
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let serial = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("serialNumber: 0x"))?;
    Some(serial.to_owned())
}
