//! Box writing: open a box, write its body, close it (the size is patched in).

use bytes::BytesMut;

/// A growable byte buffer boxes are appended to: a `Vec<u8>`, or the `BytesMut` that
/// fragments are cut from.
pub(crate) trait BoxOut: std::ops::DerefMut<Target = [u8]> {
    fn put(&mut self, b: &[u8]);
    fn put_zeros(&mut self, n: usize);
}

impl BoxOut for Vec<u8> {
    fn put(&mut self, b: &[u8]) {
        self.extend_from_slice(b);
    }

    fn put_zeros(&mut self, n: usize) {
        self.resize(self.len() + n, 0);
    }
}

impl BoxOut for BytesMut {
    fn put(&mut self, b: &[u8]) {
        self.extend_from_slice(b);
    }

    fn put_zeros(&mut self, n: usize) {
        self.resize(self.len() + n, 0);
    }
}

/// Appends boxes to a byte buffer.
pub(crate) struct BoxWriter<'a, O: BoxOut> {
    pub(crate) out: &'a mut O,
}

impl<'a, O: BoxOut> BoxWriter<'a, O> {
    pub(crate) fn new(out: &'a mut O) -> Self {
        Self { out }
    }

    /// Starts a box; returns its offset for [`BoxWriter::end`].
    pub(crate) fn begin(&mut self, fourcc: &[u8; 4]) -> usize {
        let at = self.out.len();
        self.out.put(&[0, 0, 0, 0]);
        self.out.put(fourcc);
        at
    }

    /// Starts a full box (version and flags).
    pub(crate) fn begin_full(&mut self, fourcc: &[u8; 4], version: u8, flags: u32) -> usize {
        let at = self.begin(fourcc);
        self.u32((u32::from(version) << 24) | (flags & 0x00FF_FFFF));
        at
    }

    pub(crate) fn end(&mut self, at: usize) {
        let size = (self.out.len() - at) as u32;
        self.out[at..at + 4].copy_from_slice(&size.to_be_bytes());
    }

    pub(crate) fn u16(&mut self, v: u16) {
        self.out.put(&v.to_be_bytes());
    }

    pub(crate) fn u32(&mut self, v: u32) {
        self.out.put(&v.to_be_bytes());
    }

    pub(crate) fn u64(&mut self, v: u64) {
        self.out.put(&v.to_be_bytes());
    }

    pub(crate) fn bytes(&mut self, b: &[u8]) {
        self.out.put(b);
    }

    pub(crate) fn zeros(&mut self, n: usize) {
        self.out.put_zeros(n);
    }

    /// The unity transformation matrix of mvhd/tkhd.
    pub(crate) fn unity_matrix(&mut self) {
        for v in [0x0001_0000u32, 0, 0, 0, 0x0001_0000, 0, 0, 0, 0x4000_0000] {
            self.u32(v);
        }
    }
}

/// Test helper: walks a box tree, listing `(depth, fourcc, body)` for the container boxes named.
#[cfg(test)]
pub(crate) fn walk(data: &[u8], depth: usize, out: &mut Vec<(usize, String, Vec<u8>)>) {
    let mut pos = 0;
    while pos + 8 <= data.len() {
        let size = u32::from_be_bytes(data[pos..pos + 4].try_into().unwrap()) as usize;
        let name = String::from_utf8_lossy(&data[pos + 4..pos + 8]).to_string();
        assert!(size >= 8 && pos + size <= data.len(), "bad size of {name}");
        let body = &data[pos + 8..pos + size];
        out.push((depth, name.clone(), body.to_vec()));
        let children_at = match name.as_str() {
            "moov" | "trak" | "mdia" | "minf" | "dinf" | "stbl" | "mvex" | "moof" | "traf" => {
                Some(0)
            }
            "stsd" | "dref" => Some(8),
            "avc1" | "hvc1" => Some(78),
            _ => None,
        };
        if let Some(skip) = children_at {
            walk(&body[skip..], depth + 1, out);
        }
        pos += size;
    }
    assert_eq!(pos, data.len(), "trailing bytes");
}
