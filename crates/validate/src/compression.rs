//! Decompression by magic number, in pure Rust: gzip (flate2 over miniz_oxide) and zstd (ruzstd),
//! for tars, OCI layers and kernel modules alike. Both formats may hold several members or frames
//! back to back (and zstd skippable frames); all are read as one stream.

use std::io::{self, BufRead, Read};

use flate2::bufread::MultiGzDecoder;
use ruzstd::decoding::errors::{FrameDecoderError, ReadFrameHeaderError};
use ruzstd::decoding::{BlockDecodingStrategy, FrameDecoder};

const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];
const ZSTD_MAGIC: [u8; 4] = [0x28, 0xb5, 0x2f, 0xfd];

/// What a stream is compressed with, judged from its first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    /// Not compressed (a plain tar).
    None,
    /// Gzip (`1f 8b`).
    Gzip,
    /// Zstandard (`28 b5 2f fd`), possibly several frames.
    Zstd,
}

impl Compression {
    /// Looks at the start of `reader` without consuming it.
    pub fn detect(reader: &mut impl BufRead) -> io::Result<Compression> {
        let head = reader.fill_buf()?;
        Ok(if head.starts_with(&GZIP_MAGIC) {
            Compression::Gzip
        } else if head.starts_with(&ZSTD_MAGIC) {
            Compression::Zstd
        } else {
            Compression::None
        })
    }
}

/// The decompressed contents of `reader`, whatever of [`Compression`] it uses.
pub fn decompress<'a, R: BufRead + 'a>(mut reader: R) -> io::Result<Box<dyn Read + 'a>> {
    Ok(match Compression::detect(&mut reader)? {
        Compression::Gzip => Box::new(MultiGzDecoder::new(reader)),
        Compression::Zstd => Box::new(ZstdFrames::new(reader)),
        Compression::None => Box::new(reader),
    })
}

/// A zstd stream of one or more frames, skippable frames skipped.
pub struct ZstdFrames<R: BufRead> {
    source: R,
    decoder: FrameDecoder,
    /// Whether `decoder` holds a frame started with `init`.
    in_frame: bool,
}

fn zstd_error(e: impl std::fmt::Display) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("zstd: {e}"))
}

impl<R: BufRead> ZstdFrames<R> {
    /// Decodes the concatenated zstd frames read from `source`.
    pub fn new(source: R) -> ZstdFrames<R> {
        ZstdFrames {
            source,
            decoder: FrameDecoder::new(),
            in_frame: false,
        }
    }

    /// Starts the next frame; `Ok(false)` at the end of the stream.
    fn next_frame(&mut self) -> io::Result<bool> {
        loop {
            if self.source.fill_buf()?.is_empty() {
                return Ok(false);
            }
            match self.decoder.reset(&mut self.source) {
                Ok(()) => {
                    self.in_frame = true;
                    return Ok(true);
                }
                Err(FrameDecoderError::ReadFrameHeaderError(ReadFrameHeaderError::SkipFrame {
                    length,
                    ..
                })) => {
                    io::copy(
                        &mut (&mut self.source).take(u64::from(length)),
                        &mut io::sink(),
                    )?;
                }
                Err(e) => return Err(zstd_error(e)),
            }
        }
    }
}

impl<R: BufRead> Read for ZstdFrames<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        loop {
            if self.in_frame {
                // As ruzstd's StreamingDecoder: decode until enough is collectable or the frame ends.
                while self.decoder.can_collect() < buf.len() && !self.decoder.is_finished() {
                    let wanted = buf.len() - self.decoder.can_collect();
                    self.decoder
                        .decode_blocks(&mut self.source, BlockDecodingStrategy::UptoBytes(wanted))
                        .map_err(zstd_error)?;
                }
                let n = self.decoder.read(buf)?;
                if n > 0 {
                    return Ok(n);
                }
                self.in_frame = false;
            }
            if !self.next_frame()? {
                return Ok(0);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A zstd frame of raw (uncompressed) blocks, as the format defines it: magic, a frame header
    /// with a single-segment content size, then one last raw block.
    fn raw_zstd_frame(data: &[u8]) -> Vec<u8> {
        assert!(data.len() < 256);
        let mut out = ZSTD_MAGIC.to_vec();
        out.push(0b0010_0000); // single segment, 1-byte content size
        out.push(data.len() as u8);
        let header = ((data.len() as u32) << 3) | 1; // last block, raw
        out.extend_from_slice(&header.to_le_bytes()[..3]);
        out.extend_from_slice(data);
        out
    }

    #[test]
    fn zstd_frames_and_skippable_frames_read_as_one_stream() {
        let mut stream = raw_zstd_frame(b"hello ");
        stream.extend_from_slice(&0x184D_2A50u32.to_le_bytes());
        stream.extend_from_slice(&3u32.to_le_bytes());
        stream.extend_from_slice(b"xyz");
        stream.extend(raw_zstd_frame(b"world"));
        let mut out = String::new();
        decompress(&stream[..])
            .expect("detects zstd")
            .read_to_string(&mut out)
            .expect("decodes");
        assert_eq!(out, "hello world");
    }

    #[test]
    fn corrupt_zstd_is_an_error_not_a_panic() {
        let mut stream = raw_zstd_frame(b"hello");
        stream.truncate(9);
        let mut out = Vec::new();
        let result = decompress(&stream[..]).and_then(|mut r| r.read_to_end(&mut out));
        assert!(result.is_err(), "{out:?}");
    }

    #[test]
    fn plain_data_passes_through() {
        let mut out = String::new();
        decompress(&b"plain"[..])
            .expect("reads")
            .read_to_string(&mut out)
            .expect("reads");
        assert_eq!(out, "plain");
    }
}
