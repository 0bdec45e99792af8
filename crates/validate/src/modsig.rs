//! Kernel module signatures, read as Linux appends them: the module, then the signature data, then
//! a 12-byte `struct module_signature` (algo, hash, id_type, signer_len, key_id_len, 3 bytes of
//! padding, big-endian sig_len) and the marker `~Module signature appended~\n`. Kernels since 4.x
//! accept only id_type 2, a detached PKCS#7/CMS SignedData (BER, as `sign-file` streams it), whose
//! first SignerInfo names the key: issuer and serial number, or a subject key identifier.
//!
//! The source readers call [`read`] while they walk an image, so only the outcome is kept per
//! module; `.ko.xz`, `.ko.zst` and `.ko.gz` are decompressed in pure Rust on the way.

use std::fmt;
use std::io::{self, Read, Seek, SeekFrom, Write};

/// The marker after a signed module's signature.
pub const MARKER: &[u8] = b"~Module signature appended~\n";
const INFO_LEN: usize = 12;
/// PKEY_ID_PKCS7, the only id_type kernels accept.
const PKCS7: u8 = 2;
/// How much of a module's end is kept to find its signature (signatures are a few hundred bytes
/// to a few KiB, plus any signer and key id fields).
const KEEP: usize = 64 * 1024;

/// What a module's end says about its signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModuleSignature {
    /// No marker: the kernel refuses to load it ("Required key not available").
    Unsigned,
    /// A signature the kernel can check, naming the key that made it.
    Signed(Signer),
    /// A marker with data the kernel cannot use, or a module that could not be read.
    Invalid(String),
}

/// Who signed a module, as `modinfo` shows it (`signer:`, `sig_key:`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signer {
    /// The issuer's common name (e.g. `Debian Secure Boot CA`), when the key is named by issuer
    /// and serial number.
    pub name: Option<String>,
    /// The serial number or subject key identifier, as colon-separated upper-case hex.
    pub key_id: String,
    /// The digest algorithm, e.g. `sha256`.
    pub hash: String,
}

impl fmt::Display for Signer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.name {
            Some(name) => write!(f, "{name:?} (key {}, {})", self.key_id, self.hash),
            None => write!(f, "key {} ({})", self.key_id, self.hash),
        }
    }
}

/// Whether `path` (image-root relative) is a kernel module under a modules directory.
pub fn is_module(path: &str) -> bool {
    let under =
        path.starts_with("rootfs/usr/lib/modules/") || path.starts_with("rootfs/lib/modules/");
    under
        && [".ko", ".ko.xz", ".ko.zst", ".ko.gz"]
            .iter()
            .any(|s| path.ends_with(s))
}

/// Reads the module `name` from `reader` (decompressing by its suffix) and judges its signature.
pub fn read(name: &str, reader: impl Read) -> ModuleSignature {
    match tail(name, reader) {
        Ok(tail) => parse(&tail),
        Err(e) => ModuleSignature::Invalid(format!("cannot read the module: {e}")),
    }
}

/// Like [`read`] for a file on disk; an uncompressed module is read from its end only.
pub fn read_file(path: &std::path::Path) -> ModuleSignature {
    let name = path.to_string_lossy();
    let result = std::fs::File::open(path).and_then(|mut file| {
        if name.ends_with(".ko") {
            let len = file.metadata()?.len();
            file.seek(SeekFrom::Start(len.saturating_sub(KEEP as u64)))?;
            let mut tail = Vec::new();
            file.read_to_end(&mut tail)?;
            Ok(parse(&tail))
        } else {
            Ok(read(&name, file))
        }
    });
    result.unwrap_or_else(|e| ModuleSignature::Invalid(format!("cannot read the module: {e}")))
}

/// Keeps the last [`KEEP`] bytes written to it.
struct Tail(Vec<u8>);

impl Write for Tail {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.extend_from_slice(buf);
        if self.0.len() > 2 * KEEP {
            self.0.drain(..self.0.len() - KEEP);
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn tail(name: &str, reader: impl Read) -> io::Result<Vec<u8>> {
    let mut out = Tail(Vec::new());
    let mut reader = io::BufReader::new(reader);
    if name.ends_with(".xz") {
        lzma_rs::xz_decompress(&mut reader, &mut out)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, format!("xz: {e}")))?;
    } else if name.ends_with(".zst") || name.ends_with(".gz") {
        io::copy(&mut crate::compression::decompress(reader)?, &mut out)?;
    } else {
        io::copy(&mut reader, &mut out)?;
    }
    Ok(out.0)
}

/// Judges the end of a (decompressed) module.
pub fn parse(tail: &[u8]) -> ModuleSignature {
    let Some(body) = tail.strip_suffix(MARKER) else {
        return ModuleSignature::Unsigned;
    };
    let Some(split) = body.len().checked_sub(INFO_LEN) else {
        return ModuleSignature::Invalid("the signature marker follows no signature".into());
    };
    let (data, info) = body.split_at(split);
    let (id_type, signer_len, key_id_len) = (info[2], info[3] as usize, info[4] as usize);
    let sig_len = u32::from_be_bytes([info[8], info[9], info[10], info[11]]) as usize;
    let needed = sig_len + signer_len + key_id_len;
    if needed > data.len() {
        return ModuleSignature::Invalid(format!(
            "the signature claims {needed} bytes, more than the module holds before it"
        ));
    }
    if id_type != PKCS7 {
        return ModuleSignature::Invalid(format!(
            "signature type {id_type} is not PKCS#7 (type 2), the only one kernels accept"
        ));
    }
    match pkcs7_signer(&data[data.len() - sig_len..]) {
        Ok(signer) => ModuleSignature::Signed(signer),
        Err(e) => ModuleSignature::Invalid(format!("the PKCS#7 signature is malformed: {e}")),
    }
}

// --- A minimal BER reader: just enough of CMS SignedData to find the first signer. ---

const SEQUENCE: u8 = 0x30;
const SET: u8 = 0x31;
const OID: u8 = 0x06;
const INTEGER: u8 = 0x02;
const CONTEXT_0: u8 = 0xa0;
const CONTEXT_1: u8 = 0xa1;
/// `[0] IMPLICIT OCTET STRING`, the subject key identifier choice of SignerIdentifier.
const CONTEXT_0_PRIMITIVE: u8 = 0x80;
/// id-signedData, 1.2.840.113549.1.7.2.
const SIGNED_DATA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x02];
/// id-at-commonName, 2.5.4.3.
const COMMON_NAME: &[u8] = &[0x55, 0x04, 0x03];

/// One BER element: its tag, its contents and what follows it.
struct Tlv<'a> {
    tag: u8,
    content: &'a [u8],
    rest: &'a [u8],
}

/// Deepest nesting of BER elements read: CMS needs about ten; a signature nesting thousands of
/// indefinite-length elements must not exhaust the stack.
const MAX_BER_DEPTH: usize = 64;

fn tlv(data: &[u8]) -> Result<Tlv<'_>, String> {
    tlv_at(data, 0)
}

fn tlv_at(data: &[u8], depth: usize) -> Result<Tlv<'_>, String> {
    if depth > MAX_BER_DEPTH {
        return Err(format!("elements nest more than {MAX_BER_DEPTH} deep"));
    }
    let (&tag, after_tag) = data.split_first().ok_or("truncated")?;
    if tag & 0x1f == 0x1f {
        return Err("multi-byte tags are not used by CMS".into());
    }
    let (&first, mut after_len) = after_tag.split_first().ok_or("truncated length")?;
    if first == 0x80 {
        // Indefinite length (constructed only): children until an end-of-contents 00 00.
        if tag & 0x20 == 0 {
            return Err("indefinite length on a primitive element".into());
        }
        let start = after_len;
        let mut cursor = after_len;
        loop {
            if cursor.starts_with(&[0, 0]) {
                let used = start.len() - cursor.len();
                return Ok(Tlv {
                    tag,
                    content: &start[..used],
                    rest: &cursor[2..],
                });
            }
            cursor = tlv_at(cursor, depth + 1)?.rest;
        }
    }
    let len = if first < 0x80 {
        first as usize
    } else {
        let count = (first & 0x7f) as usize;
        if count > 4 || after_len.len() < count {
            return Err("bad length".into());
        }
        let (bytes, rest) = after_len.split_at(count);
        after_len = rest;
        bytes.iter().fold(0usize, |n, b| (n << 8) | *b as usize)
    };
    if after_len.len() < len {
        return Err("truncated element".into());
    }
    let (content, rest) = after_len.split_at(len);
    Ok(Tlv { tag, content, rest })
}

/// The elements inside a constructed element's contents.
fn children(mut content: &[u8]) -> Result<Vec<Tlv<'_>>, String> {
    let mut out = Vec::new();
    while !content.is_empty() {
        let element = tlv(content)?;
        content = element.rest;
        out.push(element);
    }
    Ok(out)
}

fn expect<'a>(element: Option<&Tlv<'a>>, tag: u8, what: &str) -> Result<&'a [u8], String> {
    match element {
        Some(e) if e.tag == tag => Ok(e.content),
        Some(e) => Err(format!("expected {what}, found tag {:#04x}", e.tag)),
        None => Err(format!("{what} is missing")),
    }
}

/// The contents of an OCTET STRING, which BER may split into constructed segments.
fn octets(element: &Tlv<'_>) -> Result<Vec<u8>, String> {
    octets_at(element, 0)
}

fn octets_at(element: &Tlv<'_>, depth: usize) -> Result<Vec<u8>, String> {
    if element.tag & 0x20 == 0 {
        return Ok(element.content.to_vec());
    }
    if depth > MAX_BER_DEPTH {
        return Err(format!(
            "OCTET STRING segments nest more than {MAX_BER_DEPTH} deep"
        ));
    }
    let mut out = Vec::new();
    for part in children(element.content)? {
        out.extend(octets_at(&part, depth + 1)?);
    }
    Ok(out)
}

fn hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

fn hash_name(oid: &[u8]) -> String {
    const SHA2: &[u8] = &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02];
    match oid.strip_prefix(SHA2) {
        Some([1]) => "sha256".into(),
        Some([2]) => "sha384".into(),
        Some([3]) => "sha512".into(),
        Some([4]) => "sha224".into(),
        _ if oid == [0x2b, 0x0e, 0x03, 0x02, 0x1a] => "sha1".into(),
        _ => format!("digest OID {}", hex(oid)),
    }
}

fn common_name(name: &[u8]) -> Result<Option<String>, String> {
    for rdn in children(name)? {
        for attribute in children(rdn.content)? {
            let parts = children(attribute.content)?;
            if parts
                .first()
                .is_some_and(|p| p.tag == OID && p.content == COMMON_NAME)
            {
                if let Some(value) = parts.get(1) {
                    return Ok(Some(String::from_utf8_lossy(value.content).into_owned()));
                }
            }
        }
    }
    Ok(None)
}

fn pkcs7_signer(der: &[u8]) -> Result<Signer, String> {
    let content_info = children(expect(Some(&tlv(der)?), SEQUENCE, "ContentInfo")?)?;
    if expect(content_info.first(), OID, "the content type")? != SIGNED_DATA {
        return Err("not a SignedData".into());
    }
    let explicit = children(expect(content_info.get(1), CONTEXT_0, "the SignedData")?)?;
    let signed_data = children(expect(explicit.first(), SEQUENCE, "the SignedData")?)?;
    // version, digestAlgorithms, encapContentInfo, [0] certificates?, [1] crls?, signerInfos
    let signer_infos = signed_data
        .iter()
        .skip(3)
        .find(|e| e.tag != CONTEXT_0 && e.tag != CONTEXT_1);
    let signer_infos = children(expect(signer_infos, SET, "signerInfos")?)?;
    let signer_info = children(expect(signer_infos.first(), SEQUENCE, "a SignerInfo")?)?;
    let hash = children(expect(
        signer_info.get(2),
        SEQUENCE,
        "the digest algorithm",
    )?)?;
    let hash = hash_name(expect(hash.first(), OID, "the digest algorithm")?);
    let sid = signer_info
        .get(1)
        .ok_or("the signer identifier is missing")?;
    match sid.tag {
        SEQUENCE => {
            let issuer_and_serial = children(sid.content)?;
            let issuer = expect(issuer_and_serial.first(), SEQUENCE, "the issuer")?;
            let serial = expect(issuer_and_serial.get(1), INTEGER, "the serial number")?;
            let serial = match serial {
                [0, rest @ ..] if !rest.is_empty() => rest,
                other => other,
            };
            Ok(Signer {
                name: common_name(issuer)?,
                key_id: hex(serial),
                hash,
            })
        }
        CONTEXT_0_PRIMITIVE | CONTEXT_0 => Ok(Signer {
            name: None,
            key_id: hex(&octets(sid)?),
            hash,
        }),
        other => Err(format!("unknown signer identifier (tag {other:#04x})")),
    }
}

/// Whether `key_id` (as printed) equals `wanted`, ignoring case and colons.
pub fn key_id_matches(key_id: &str, wanted: &str) -> bool {
    let norm = |s: &str| {
        s.chars()
            .filter(|c| *c != ':')
            .map(|c| c.to_ascii_lowercase())
            .collect::<String>()
    };
    norm(key_id) == norm(wanted)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trailer(sig: &[u8], id_type: u8) -> Vec<u8> {
        let mut out = b"\x7fELF module body".to_vec();
        out.extend_from_slice(sig);
        out.extend_from_slice(&[0, 0, id_type, 0, 0, 0, 0, 0]);
        out.extend_from_slice(&(sig.len() as u32).to_be_bytes());
        out.extend_from_slice(MARKER);
        out
    }

    #[test]
    fn unsigned_wrong_type_and_truncated_signatures() {
        assert_eq!(parse(b"\x7fELF no signature"), ModuleSignature::Unsigned);
        let ModuleSignature::Invalid(e) = parse(&trailer(b"xx", 1)) else {
            panic!("type 1 accepted");
        };
        assert!(e.contains("not PKCS#7"), "{e}");
        let mut claims_too_much = trailer(b"xx", 2);
        let n = claims_too_much.len();
        claims_too_much[n - MARKER.len() - 1] = 0xff;
        assert!(
            matches!(parse(&claims_too_much), ModuleSignature::Invalid(e) if e.contains("claims"))
        );
        let ModuleSignature::Invalid(e) = parse(&trailer(&[0x30, 0x80, 0x06], 2)) else {
            panic!("garbage accepted");
        };
        assert!(e.contains("malformed"), "{e}");
        assert!(matches!(parse(MARKER), ModuleSignature::Invalid(_)));
    }

    #[test]
    fn modules_are_recognised_by_place_and_suffix() {
        assert!(is_module("rootfs/usr/lib/modules/6.18.1-talos/extra/a.ko"));
        assert!(is_module("rootfs/lib/modules/5.15.0/kernel/b.ko.xz"));
        assert!(is_module("rootfs/usr/lib/modules/6.18.1-talos/c.ko.zst"));
        assert!(!is_module("rootfs/usr/local/lib/a.ko"));
        assert!(!is_module(
            "rootfs/usr/lib/modules/6.18.1-talos/modules.dep"
        ));
        assert!(key_id_matches("4D:0A:ff", "4d0aFF"));
        assert!(!key_id_matches("4D:0A", "4D:0B"));
    }

    #[test]
    fn deeply_nested_ber_is_an_error_not_a_stack_overflow() {
        // 100,000 nested indefinite-length SEQUENCEs, then as many end-of-contents markers.
        let mut data = [0x30u8, 0x80].repeat(100_000);
        data.extend([0u8, 0].repeat(100_000));
        let e = tlv(&data).err().expect("refused");
        assert!(e.contains("nest more than 64 deep"), "{e}");
        // Constructed OCTET STRING segments nested just as deep.
        let mut data = Vec::new();
        for _ in 0..100_000 {
            data.extend([0x24u8, 0x80]);
        }
        data.extend([0u8, 0].repeat(100_000));
        assert!(tlv(&data).is_err());
        let nested = Tlv {
            tag: 0x24,
            content: &[0x24, 0x02, 0x04, 0x00],
            rest: &[],
        };
        assert_eq!(octets(&nested).unwrap(), Vec::<u8>::new());
    }
}
