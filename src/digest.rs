//! Hex digests: fingerprints, lock names and subscriber names are the SHA-256 of what they stand
//! for, written in hex, and a list of 10,000 subscribers writes 10,000 of them.

/// Lower-case hexadecimal, in one allocation (formatting each byte on its own was a tenth of
/// reading a list of subscribers).
pub(crate) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut text = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        text.push(char::from(DIGITS[usize::from(byte >> 4)]));
        text.push(char::from(DIGITS[usize::from(byte & 0x0f)]));
    }
    text
}

#[cfg(test)]
mod tests {
    use sha2::{Digest, Sha256};

    use super::*;

    /// RFC 4648's base16 vectors (section 10, in lower case), and SHA-256("abc") from FIPS 180-2
    /// (appendix B.1).
    #[test]
    fn hex_matches_published_vectors() {
        for (bytes, expected) in [
            (&b""[..], ""),
            (b"f", "66"),
            (b"fo", "666f"),
            (b"foo", "666f6f"),
            (b"foob", "666f6f62"),
            (b"fooba", "666f6f6261"),
            (b"foobar", "666f6f626172"),
            (&[0x00, 0x0f, 0xf0, 0xff], "000ff0ff"),
        ] {
            assert_eq!(hex(bytes), expected);
        }
        assert_eq!(
            hex(&Sha256::digest(b"abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
