//! The part of `crc-fast`'s interface the AWS SDK's checksums use: [`CrcAlgorithm`] with the
//! three algorithms S3 offers, a streaming [`Digest`] and one-shot [`checksum`]. The results
//! are crc-fast's (checked against the CRC catalogue's check values below).

use crc::{CRC_32_ISCSI, CRC_64_NVME, Crc, Table};

static CRC32C: Crc<u32, Table<1>> = Crc::<u32, Table<1>>::new(&CRC_32_ISCSI);
static CRC64NVME: Crc<u64, Table<1>> = Crc::<u64, Table<1>>::new(&CRC_64_NVME);

/// The CRC algorithms S3 offers, by their CRC catalogue names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CrcAlgorithm {
    /// CRC-32 as in zip and gzip: S3's `CRC32`.
    Crc32IsoHdlc,
    /// CRC-32C: S3's `CRC32C`.
    Crc32Iscsi,
    /// CRC-64/NVME: S3's `CRC64NVME`.
    Crc64Nvme,
}

/// A CRC computed over data given in pieces.
#[derive(Clone)]
pub struct Digest {
    state: State,
}

#[derive(Clone)]
enum State {
    IsoHdlc(crc32fast::Hasher),
    Iscsi(crc::Digest<'static, u32, Table<1>>),
    Nvme(crc::Digest<'static, u64, Table<1>>),
}

impl Digest {
    pub fn new(algorithm: CrcAlgorithm) -> Self {
        let state = match algorithm {
            CrcAlgorithm::Crc32IsoHdlc => State::IsoHdlc(crc32fast::Hasher::new()),
            CrcAlgorithm::Crc32Iscsi => State::Iscsi(CRC32C.digest()),
            CrcAlgorithm::Crc64Nvme => State::Nvme(CRC64NVME.digest()),
        };
        Self { state }
    }

    pub fn update(&mut self, data: &[u8]) {
        match &mut self.state {
            State::IsoHdlc(h) => h.update(data),
            State::Iscsi(d) => d.update(data),
            State::Nvme(d) => d.update(data),
        }
    }

    /// The CRC of everything given so far (a 32-bit CRC in the low bits); the digest goes on.
    pub fn finalize(&self) -> u64 {
        match &self.state {
            State::IsoHdlc(h) => u64::from(h.clone().finalize()),
            State::Iscsi(d) => u64::from(d.clone().finalize()),
            State::Nvme(d) => d.clone().finalize(),
        }
    }

    /// Starts again from no data.
    pub fn reset(&mut self) {
        *self = Self::new(self.algorithm());
    }

    pub fn algorithm(&self) -> CrcAlgorithm {
        match self.state {
            State::IsoHdlc(_) => CrcAlgorithm::Crc32IsoHdlc,
            State::Iscsi(_) => CrcAlgorithm::Crc32Iscsi,
            State::Nvme(_) => CrcAlgorithm::Crc64Nvme,
        }
    }
}

impl std::fmt::Debug for Digest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Digest")
            .field("algorithm", &self.algorithm())
            .finish_non_exhaustive()
    }
}

/// The CRC of `data` in one call.
pub fn checksum(algorithm: CrcAlgorithm, data: &[u8]) -> u64 {
    let mut d = Digest::new(algorithm);
    d.update(data);
    d.finalize()
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: [CrcAlgorithm; 3] = [
        CrcAlgorithm::Crc32IsoHdlc,
        CrcAlgorithm::Crc32Iscsi,
        CrcAlgorithm::Crc64Nvme,
    ];

    /// The CRC catalogue's check values: the CRC of the nine bytes "123456789".
    #[test]
    fn each_algorithm_gives_the_catalogues_check_value() {
        assert_eq!(
            checksum(CrcAlgorithm::Crc32IsoHdlc, b"123456789"),
            0xcbf4_3926
        );
        assert_eq!(
            checksum(CrcAlgorithm::Crc32Iscsi, b"123456789"),
            0xe306_9283
        );
        assert_eq!(
            checksum(CrcAlgorithm::Crc64Nvme, b"123456789"),
            0xae8b_1486_0a79_9888
        );
    }

    /// A bit at a time, straight from the reflected polynomial: the definition, with no table.
    fn by_bits(algorithm: CrcAlgorithm, data: &[u8]) -> u64 {
        let (poly, mask) = match algorithm {
            CrcAlgorithm::Crc32IsoHdlc => (0xedb8_8320, u64::from(u32::MAX)),
            CrcAlgorithm::Crc32Iscsi => (0x82f6_3b78, u64::from(u32::MAX)),
            CrcAlgorithm::Crc64Nvme => (0x9a6c_9329_ac4b_c9b5, u64::MAX),
        };
        let mut crc = mask;
        for &b in data {
            crc ^= u64::from(b);
            for _ in 0..8 {
                crc = if crc & 1 == 1 {
                    (crc >> 1) ^ poly
                } else {
                    crc >> 1
                };
            }
        }
        crc ^ mask
    }

    #[test]
    fn data_given_in_pieces_gives_the_crc_of_the_whole() {
        let data: Vec<u8> = (0..5000u32).map(|i| (i * 7 + i / 13) as u8).collect();
        for algorithm in ALL {
            let want = by_bits(algorithm, &data);
            assert_eq!(checksum(algorithm, &data), want, "{algorithm:?}");
            let mut d = Digest::new(algorithm);
            for piece in data.chunks(333) {
                d.update(piece);
            }
            assert_eq!(d.finalize(), want, "{algorithm:?} in pieces");
            // finalize leaves the digest going; reset starts it again.
            d.update(b"more");
            assert_ne!(d.finalize(), want);
            d.reset();
            assert_eq!(d.finalize(), by_bits(algorithm, b""), "{algorithm:?} reset");
            assert_eq!(d.algorithm(), algorithm);
        }
    }
}
