//! SHA-1 (RFC 3174), only for the opening handshake's `Sec-WebSocket-Accept`.
//!
//! RFC 6455 §4.2.2 fixes SHA-1 there; it proves the server read the key, not
//! secrecy, so SHA-1's known collisions do not matter here. Nothing else in
//! sockref should hash with it.

/// A SHA-1 hasher fed in pieces: [`Sha1::update`] as often as needed, then
/// [`Sha1::finish`].
#[derive(Clone, Debug)]
pub struct Sha1 {
    state: [u32; 5],
    block: [u8; 64],
    filled: usize,
    /// Message length in bytes; RFC 3174 §4 limits messages to 2^64 bits.
    length: u64,
}

impl Default for Sha1 {
    fn default() -> Self {
        Self::new()
    }
}

impl Sha1 {
    /// A hasher that has seen no input yet.
    pub fn new() -> Self {
        // RFC 3174 §6.1: the initial H0..H4.
        Sha1 {
            state: [0x6745_2301, 0xEFCD_AB89, 0x98BA_DCFE, 0x1032_5476, 0xC3D2_E1F0],
            block: [0; 64],
            filled: 0,
            length: 0,
        }
    }

    /// Feeds `data`, which may be of any length.
    pub fn update(&mut self, mut data: &[u8]) {
        self.length = self.length.wrapping_add(data.len() as u64);
        if self.filled > 0 {
            let take = (64 - self.filled).min(data.len());
            self.block[self.filled..self.filled + take].copy_from_slice(&data[..take]);
            self.filled += take;
            data = &data[take..];
            if self.filled < 64 {
                return;
            }
            let block = self.block;
            self.compress(&block);
            self.filled = 0;
        }
        let mut blocks = data.chunks_exact(64);
        for block in &mut blocks {
            self.compress(block);
        }
        let rest = blocks.remainder();
        self.block[..rest.len()].copy_from_slice(rest);
        self.filled = rest.len();
    }

    /// Pads the message and returns the 160-bit digest, big-endian.
    pub fn finish(mut self) -> [u8; 20] {
        // RFC 3174 §4: a 1 bit, zeros up to 56 mod 64 bytes, then the
        // length in bits as a 64-bit big-endian number.
        let bits = self.length.wrapping_mul(8);
        let mut pad = [0u8; 72];
        pad[0] = 0x80;
        let zeros = if self.filled < 56 { 56 - self.filled } else { 120 - self.filled };
        pad[zeros..zeros + 8].copy_from_slice(&bits.to_be_bytes());
        // `update` would count the padding into the length; feed it by hand.
        let length = self.length;
        self.update(&pad[..zeros + 8]);
        self.length = length;
        debug_assert_eq!(self.filled, 0);

        let mut digest = [0u8; 20];
        for (out, word) in digest.chunks_exact_mut(4).zip(self.state) {
            out.copy_from_slice(&word.to_be_bytes());
        }
        digest
    }

    /// RFC 3174 §6.1, steps a-e, on one 512-bit block.
    fn compress(&mut self, block: &[u8]) {
        let mut w = [0u32; 80];
        for (word, bytes) in w.iter_mut().zip(block.chunks_exact(4)) {
            *word = u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
        }
        for t in 16..80 {
            w[t] = (w[t - 3] ^ w[t - 8] ^ w[t - 14] ^ w[t - 16]).rotate_left(1);
        }

        let [mut a, mut b, mut c, mut d, mut e] = self.state;
        for (t, &word) in w.iter().enumerate() {
            // RFC 3174 §5: f(t;B,C,D) and K(t) change every 20 rounds.
            let (f, k) = match t {
                0..=19 => ((b & c) | (!b & d), 0x5A82_7999),
                20..=39 => (b ^ c ^ d, 0x6ED9_EBA1),
                40..=59 => ((b & c) | (b & d) | (c & d), 0x8F1B_BCDC),
                _ => (b ^ c ^ d, 0xCA62_C1D6),
            };
            let temp =
                a.rotate_left(5).wrapping_add(f).wrapping_add(e).wrapping_add(word).wrapping_add(k);
            e = d;
            d = c;
            c = b.rotate_left(30);
            b = a;
            a = temp;
        }
        for (h, v) in self.state.iter_mut().zip([a, b, c, d, e]) {
            *h = h.wrapping_add(v);
        }
    }
}

/// The SHA-1 digest of `data` in one call.
pub fn sha1(data: &[u8]) -> [u8; 20] {
    let mut hasher = Sha1::new();
    hasher.update(data);
    hasher.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(digest: [u8; 20]) -> String {
        digest.iter().map(|b| format!("{b:02X}")).collect()
    }

    // The four tests of RFC 3174 §7.3 (TEST1..TEST4 and their results).
    #[test]
    fn rfc3174_abc() {
        assert_eq!(hex(sha1(b"abc")), "A9993E364706816ABA3E25717850C26C9CD0D89D");
    }

    #[test]
    fn rfc3174_448_bit_message() {
        let msg = b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
        assert_eq!(hex(sha1(msg)), "84983E441C3BD26EBAAE4AA1F95129E5E54670F1");
    }

    #[test]
    fn rfc3174_one_million_a() {
        let msg = vec![b'a'; 1_000_000];
        assert_eq!(hex(sha1(&msg)), "34AA973CD4C4DAA4F61EEB2BDBAD27316534016F");
    }

    #[test]
    fn rfc3174_640_bytes_of_digits() {
        let msg = b"01234567".repeat(80);
        assert_eq!(hex(sha1(&msg)), "DEA356A2CDDD90C7A7ECEDC5EBB563934F460452");
    }

    #[test]
    fn empty_message() {
        assert_eq!(hex(sha1(b"")), "DA39A3EE5E6B4B0D3255BFEF95601890AFD80709");
    }

    #[test]
    fn pieces_of_any_size_give_the_one_call_digest() {
        let msg: Vec<u8> = (0..1000u32).map(|i| (i * 7 + 3) as u8).collect();
        let whole = sha1(&msg);
        for piece in [1, 3, 55, 56, 63, 64, 65, 127, 999] {
            let mut hasher = Sha1::new();
            for chunk in msg.chunks(piece) {
                hasher.update(chunk);
            }
            assert_eq!(hasher.finish(), whole, "pieces of {piece}");
        }
        // Lengths around the padding boundary (55/56 bytes mod 64).
        for len in 50..=130 {
            let mut hasher = Sha1::new();
            hasher.update(&msg[..len / 2]);
            hasher.update(&msg[len / 2..len]);
            assert_eq!(hasher.finish(), sha1(&msg[..len]), "length {len}");
        }
    }
}
