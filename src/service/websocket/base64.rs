//! Base64 with padding (RFC 4648 §4), for `Sec-WebSocket-Key` and
//! `Sec-WebSocket-Accept` (RFC 6455 §4.1, §4.2.2).
//!
//! The decoder is strict on purpose: it only judges whether a client's key
//! is well-formed, so anything a lenient decoder would repair (missing
//! padding, stray characters, non-zero leftover bits) is a malformed key.

/// RFC 4648 §4, Table 1.
const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// The length of the encoding of `n` bytes, padding included.
pub const fn encoded_len(n: usize) -> usize {
    n.div_ceil(3) * 4
}

/// Appends the padded base64 encoding of `data` to `out`.
pub fn encode(data: &[u8], out: &mut Vec<u8>) {
    out.reserve(encoded_len(data.len()));
    let mut groups = data.chunks_exact(3);
    for g in &mut groups {
        let n = u32::from(g[0]) << 16 | u32::from(g[1]) << 8 | u32::from(g[2]);
        out.extend_from_slice(&[sextet(n, 18), sextet(n, 12), sextet(n, 6), sextet(n, 0)]);
    }
    // RFC 4648 §4: a final group of 8 or 16 bits gives 2 or 3 characters
    // (the missing bits are zero) and is padded with "=" to 4.
    match *groups.remainder() {
        [a] => {
            let n = u32::from(a) << 16;
            out.extend_from_slice(&[sextet(n, 18), sextet(n, 12), b'=', b'=']);
        }
        [a, b] => {
            let n = u32::from(a) << 16 | u32::from(b) << 8;
            out.extend_from_slice(&[sextet(n, 18), sextet(n, 12), sextet(n, 6), b'=']);
        }
        _ => {}
    }
}

fn sextet(n: u32, shift: u32) -> u8 {
    ALPHABET[(n >> shift & 0x3F) as usize]
}

fn value(c: u8) -> Option<u32> {
    let v = match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        b'/' => 63,
        _ => return None,
    };
    Some(u32::from(v))
}

/// Decodes padded base64, or `None` if `text` is not the canonical
/// encoding of some bytes: a length that is not a multiple of 4, a
/// character outside the alphabet (whitespace included), `=` anywhere but
/// the last one or two places, or non-zero bits in the last character
/// before the padding (RFC 4648 §3.5 lets decoders reject those).
pub fn decode(text: &[u8]) -> Option<Vec<u8>> {
    // RFC 4648 §3.2: with padding, the encoded length is a multiple of 4.
    if text.len() % 4 != 0 {
        return None;
    }
    let mut out = Vec::with_capacity(text.len() / 4 * 3);
    let last = (text.len() / 4).wrapping_sub(1);
    for (i, quad) in text.chunks_exact(4).enumerate() {
        let pad = match (i == last, quad[2], quad[3]) {
            (true, b'=', b'=') => 2,
            (true, _, b'=') => 1,
            _ => 0,
        };
        let mut n = 0u32;
        for (j, &c) in quad.iter().enumerate() {
            // An "=" before the padding fails here, as any foreign byte.
            let v = if j < 4 - pad { value(c)? } else { 0 };
            n = n << 6 | v;
        }
        let [_, a, b, c] = n.to_be_bytes();
        match pad {
            0 => out.extend_from_slice(&[a, b, c]),
            // RFC 4648 §3.5: the bits below the last whole byte must be zero.
            1 if c == 0 => out.extend_from_slice(&[a, b]),
            2 if b == 0 && c == 0 => out.push(a),
            _ => return None,
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    // RFC 4648 §10.
    const VECTORS: [(&[u8], &[u8]); 7] = [
        (b"", b""),
        (b"f", b"Zg=="),
        (b"fo", b"Zm8="),
        (b"foo", b"Zm9v"),
        (b"foob", b"Zm9vYg=="),
        (b"fooba", b"Zm9vYmE="),
        (b"foobar", b"Zm9vYmFy"),
    ];

    #[test]
    fn encodes_the_rfc4648_vectors() {
        for (plain, coded) in VECTORS {
            let mut out = Vec::new();
            encode(plain, &mut out);
            assert_eq!(out, coded, "{plain:?}");
            assert_eq!(encoded_len(plain.len()), coded.len());
        }
    }

    #[test]
    fn decodes_the_rfc4648_vectors() {
        for (plain, coded) in VECTORS {
            assert_eq!(decode(coded).as_deref(), Some(plain), "{coded:?}");
        }
    }

    #[test]
    fn every_byte_value_round_trips() {
        let all: Vec<u8> = (0..=255).collect();
        for len in 0..all.len() {
            let mut coded = Vec::new();
            encode(&all[..len], &mut coded);
            assert_eq!(decode(&coded).as_deref(), Some(&all[..len]));
        }
    }

    #[test]
    fn rejects_lengths_that_are_not_a_multiple_of_four() {
        for bad in [&b"Zg"[..], b"Zg=", b"Zm9vY", b"Zm9vYmFy="] {
            assert_eq!(decode(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn rejects_characters_outside_the_alphabet() {
        for bad in [&b"Zm9*"[..], b"Zm 9", b"Zm9v\r\n==", b"Zm-_", b"Zm9\xC3"] {
            assert_eq!(decode(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn rejects_misplaced_padding() {
        for bad in [&b"===="[..], b"Z===", b"Z=m9", b"Zg==Zm9v", b"Zm=v", b"Zg======"] {
            assert_eq!(decode(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn rejects_non_zero_bits_after_the_last_byte() {
        // "Zg==" is the canonical "f"; "Zh==" and "Zm9=" decode to the same
        // bytes only if the leftover bits are dropped.
        assert_eq!(decode(b"Zh=="), None);
        assert_eq!(decode(b"Zm9="), None);
        assert_eq!(decode(b"Zm8="), Some(b"fo".to_vec()));
    }
}
