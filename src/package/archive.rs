//! The zip container, written byte for byte by rule so that the same entries always give the
//! same archive. Pure: writes to any `Write`, never seeks, never reads the clock.
//!
//! Why not the `zip` crate: it cannot take data compressed elsewhere (we compress on every core
//! and write in order), and it seeks back to patch headers, which rules out hashing while
//! writing. Why not `rawzip`: it always writes data descriptors and adds an extended-timestamp
//! field whenever a time is set. The container is a frozen, documented format (APPNOTE 6.3);
//! deflate comes from libdeflate (whole files in memory) and `flate2` on zlib-rs (streamed large
//! files), CRC-32 from `crc32fast`.
//!
//! What every entry gets: no extra fields (no uid/gid, no extended timestamps), one fixed DOS
//! timestamp, Unix "version made by" with the mode in the external attributes, sizes and CRC in
//! the local header (no data descriptor), the UTF-8 flag only for non-ASCII names. The zip64
//! end records are added only when there are more than 65,535 entries; sizes and offsets past
//! 4 GiB are refused (a layer unzips to 250 MiB at most).

use std::io::{self, Read, Write};

const LOCAL_HEADER: u32 = 0x0403_4b50;
const CENTRAL_HEADER: u32 = 0x0201_4b50;
const END_OF_CENTRAL_DIR: u32 = 0x0605_4b50;
const ZIP64_END_OF_CENTRAL_DIR: u32 = 0x0606_4b50;
const ZIP64_LOCATOR: u32 = 0x0706_4b50;
/// Made by Unix (3), spec 3.0, as Info-ZIP writes it.
const VERSION_MADE_BY: u16 = (3 << 8) | 30;
const FLAG_UTF8: u16 = 1 << 11;

/// How an entry's data is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Stored,
    Deflated,
}

impl Method {
    fn code(self) -> u16 {
        match self {
            Method::Stored => 0,
            Method::Deflated => 8,
        }
    }
    fn version_needed(self) -> u16 {
        match self {
            Method::Stored => 10,
            Method::Deflated => 20,
        }
    }
}

/// An MS-DOS date and time, the only timestamp an entry carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DosTime {
    pub date: u16,
    pub time: u16,
}

impl DosTime {
    /// 1980-01-01 00:00:00, the earliest a zip can say.
    pub const EPOCH: DosTime = DosTime {
        date: (1 << 5) | 1,
        time: 0,
    };

    /// The DOS time of a Unix time (UTC, as `SOURCE_DATE_EPOCH` means), clamped to the range
    /// a zip can hold (1980 to 2107), seconds rounded down to even.
    pub fn from_unix(secs: i64) -> DosTime {
        const MIN: i64 = 315_532_800; // 1980-01-01T00:00:00Z
        const MAX: i64 = 4_354_819_198; // 2107-12-31T23:59:58Z
        let secs = secs.clamp(MIN, MAX);
        let days = secs.div_euclid(86_400);
        let rem = secs.rem_euclid(86_400);
        let (y, m, d) = civil_from_days(days);
        let (h, min, s) = (rem / 3600, rem % 3600 / 60, rem % 60);
        DosTime {
            date: (((y - 1980) << 9) | (m << 5) | d) as u16,
            time: ((h << 11) | (min << 5) | (s / 2)) as u16,
        }
    }
}

/// Year, month, day of a day count since 1970-01-01 (Howard Hinnant's algorithm).
pub(crate) fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// What the headers say of one entry; its data follows separately.
#[derive(Debug, Clone)]
pub struct EntryHeader<'a> {
    pub name: &'a str,
    /// Unix mode with the file type bits (e.g. 0o100644, 0o120777 for a link).
    pub mode: u32,
    pub method: Method,
    pub crc32: u32,
    pub compressed_size: u64,
    pub uncompressed_size: u64,
}

/// Writes a zip archive entry by entry, keeping the central directory in memory (about 50
/// bytes plus the name per entry).
pub struct ZipWriter<W: Write> {
    out: W,
    offset: u64,
    central: Vec<u8>,
    entries: u64,
    stamp: DosTime,
}

impl<W: Write> ZipWriter<W> {
    pub fn new(out: W, stamp: DosTime) -> Self {
        ZipWriter {
            out,
            offset: 0,
            central: Vec::new(),
            entries: 0,
            stamp,
        }
    }

    /// Writes one entry: its local header, then exactly `header.compressed_size` bytes from
    /// `data` (already compressed by `header.method`).
    pub fn add(&mut self, header: &EntryHeader<'_>, data: &mut dyn Read) -> io::Result<()> {
        let compressed = fit_u32(header.compressed_size, "entry")?;
        let uncompressed = fit_u32(header.uncompressed_size, "entry")?;
        let offset = fit_u32(self.offset, "archive")?;
        let name = header.name.as_bytes();
        let name_len = u16::try_from(name.len())
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "entry name too long"))?;
        let flags = if header.name.is_ascii() { 0 } else { FLAG_UTF8 };

        let mut local = Vec::with_capacity(30 + name.len());
        put32(&mut local, LOCAL_HEADER);
        put16(&mut local, header.method.version_needed());
        put16(&mut local, flags);
        put16(&mut local, header.method.code());
        put16(&mut local, self.stamp.time);
        put16(&mut local, self.stamp.date);
        put32(&mut local, header.crc32);
        put32(&mut local, compressed);
        put32(&mut local, uncompressed);
        put16(&mut local, name_len);
        put16(&mut local, 0); // no extra fields
        local.extend_from_slice(name);
        self.out.write_all(&local)?;

        let copied = io::copy(&mut data.take(header.compressed_size), &mut self.out)?;
        if copied != header.compressed_size {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!(
                    "{}: {copied} bytes of data where {} were announced",
                    header.name, header.compressed_size
                ),
            ));
        }

        let c = &mut self.central;
        put32(c, CENTRAL_HEADER);
        put16(c, VERSION_MADE_BY);
        put16(c, header.method.version_needed());
        put16(c, flags);
        put16(c, header.method.code());
        put16(c, self.stamp.time);
        put16(c, self.stamp.date);
        put32(c, header.crc32);
        put32(c, compressed);
        put32(c, uncompressed);
        put16(c, name_len);
        put16(c, 0); // extra field length
        put16(c, 0); // comment length
        put16(c, 0); // disk number
        put16(c, 0); // internal attributes
        put32(c, header.mode << 16);
        put32(c, offset);
        c.extend_from_slice(name);

        self.offset += local.len() as u64 + header.compressed_size;
        self.entries += 1;
        Ok(())
    }

    /// Writes the central directory and the end records; returns the inner writer.
    pub fn finish(mut self) -> io::Result<W> {
        let cd_offset = self.offset;
        let cd_size = self.central.len() as u64;
        self.out.write_all(&self.central)?;
        let cd_offset32 = fit_u32(cd_offset, "archive")?;
        let cd_size32 = fit_u32(cd_size, "central directory")?;
        let count16 = if self.entries > 0xFFFF {
            let zip64_offset = cd_offset + cd_size;
            let mut z = Vec::with_capacity(76);
            put32(&mut z, ZIP64_END_OF_CENTRAL_DIR);
            put64(&mut z, 44); // size of the rest of this record
            put16(&mut z, VERSION_MADE_BY);
            put16(&mut z, 45);
            put32(&mut z, 0);
            put32(&mut z, 0);
            put64(&mut z, self.entries);
            put64(&mut z, self.entries);
            put64(&mut z, cd_size);
            put64(&mut z, cd_offset);
            put32(&mut z, ZIP64_LOCATOR);
            put32(&mut z, 0);
            put64(&mut z, zip64_offset);
            put32(&mut z, 1);
            self.out.write_all(&z)?;
            0xFFFF
        } else {
            self.entries as u16
        };
        let mut end = Vec::with_capacity(22);
        put32(&mut end, END_OF_CENTRAL_DIR);
        put16(&mut end, 0);
        put16(&mut end, 0);
        put16(&mut end, count16);
        put16(&mut end, count16);
        put32(&mut end, cd_size32);
        put32(&mut end, cd_offset32);
        put16(&mut end, 0); // comment length
        self.out.write_all(&end)?;
        self.out.flush()?;
        Ok(self.out)
    }
}

fn fit_u32(n: u64, what: &str) -> io::Result<u32> {
    u32::try_from(n).map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{what} over 4 GiB; Lambda layers are far smaller"),
        )
    })
}

fn put16(v: &mut Vec<u8>, n: u16) {
    v.extend_from_slice(&n.to_le_bytes());
}
fn put32(v: &mut Vec<u8>, n: u32) {
    v.extend_from_slice(&n.to_le_bytes());
}
fn put64(v: &mut Vec<u8>, n: u64) {
    v.extend_from_slice(&n.to_le_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stored<'a>(name: &'a str, data: &[u8]) -> EntryHeader<'a> {
        EntryHeader {
            name,
            mode: 0o100644,
            method: Method::Stored,
            crc32: crc32fast::hash(data),
            compressed_size: data.len() as u64,
            uncompressed_size: data.len() as u64,
        }
    }

    #[test]
    fn dos_time_of_known_instants() {
        assert_eq!(DosTime::from_unix(0), DosTime::EPOCH, "clamped to 1980");
        // 2024-02-29T13:45:31Z
        let t = DosTime::from_unix(1_709_214_331);
        assert_eq!(t.date, ((2024 - 1980) << 9) | (2 << 5) | 29);
        assert_eq!(t.time, (13 << 11) | (45 << 5) | 15);
        assert_eq!(
            DosTime::from_unix(i64::MAX).date >> 9,
            127,
            "clamped to 2107"
        );
    }

    #[test]
    fn one_stored_entry_has_the_exact_layout() {
        let mut w = ZipWriter::new(Vec::new(), DosTime::EPOCH);
        w.add(&stored("a.txt", b"hi"), &mut &b"hi"[..]).unwrap();
        let zip = w.finish().unwrap();
        // local header 30 + name 5 + data 2, central 46 + name 5, end 22
        assert_eq!(zip.len(), 30 + 5 + 2 + 46 + 5 + 22);
        assert_eq!(&zip[0..4], &LOCAL_HEADER.to_le_bytes());
        assert_eq!(&zip[28..30], &[0, 0], "no extra field in the local header");
        assert_eq!(&zip[10..14], &[0, 0, 0x21, 0], "1980-01-01 00:00");
        let central = 37;
        assert_eq!(&zip[central..central + 4], &CENTRAL_HEADER.to_le_bytes());
        let attrs = u32::from_le_bytes(zip[central + 38..central + 42].try_into().unwrap());
        assert_eq!(attrs >> 16, 0o100644);
    }

    #[test]
    fn short_data_is_an_error_not_a_corrupt_zip() {
        let mut w = ZipWriter::new(Vec::new(), DosTime::EPOCH);
        let err = w.add(&stored("a", b"hello"), &mut &b"he"[..]).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
    }

    #[test]
    fn non_ascii_names_carry_the_utf8_flag() {
        let mut w = ZipWriter::new(Vec::new(), DosTime::EPOCH);
        w.add(&stored("é", b""), &mut &b""[..]).unwrap();
        let zip = w.finish().unwrap();
        assert_eq!(u16::from_le_bytes([zip[6], zip[7]]), FLAG_UTF8);
    }

    #[test]
    fn more_than_65535_entries_get_zip64_end_records() {
        let mut w = ZipWriter::new(Vec::new(), DosTime::EPOCH);
        for i in 0..65_536u32 {
            let name = format!("f{i}");
            w.add(&stored(&name, b""), &mut &b""[..]).unwrap();
        }
        let zip = w.finish().unwrap();
        let end = zip.len() - 22;
        assert_eq!(&zip[end + 8..end + 10], &[0xFF, 0xFF]);
        let locator = end - 20;
        assert_eq!(&zip[locator..locator + 4], &ZIP64_LOCATOR.to_le_bytes());
        let record = locator - 56;
        assert_eq!(
            &zip[record..record + 4],
            &ZIP64_END_OF_CENTRAL_DIR.to_le_bytes()
        );
        assert_eq!(
            u64::from_le_bytes(zip[record + 32..record + 40].try_into().unwrap()),
            65_536
        );
    }
}
