//! What crosses the wire. Gossip topics carry one encoded value each (a block, a
//! transaction, a consensus message, evidence); the sync protocol is a
//! request-response exchange of `SyncRequest` and `SyncResponse`, each framed by
//! a 4-byte length and size-limited before it is decoded. Everything goes through
//! the one codec.

use async_trait::async_trait;
use bincode::{Decode, Encode};
use futures::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use generals_chain::{codec, Block, Hash, Header};
use std::io;
use std::marker::PhantomData;

/// Largest sync response (a batch of blocks, at least one whole block).
pub const MAX_SYNC_BYTES: usize = codec::MAX_BLOCK_BYTES + (128 << 10);
/// Largest sync request (a locator of at most 256 hashes, or 16 block hashes).
pub const MAX_SYNC_REQUEST_BYTES: usize = 16 << 10;
/// Most headers in one response.
pub const MAX_HEADERS: usize = 512;
/// Most blocks asked for in one request.
pub const MAX_BLOCKS_PER_REQUEST: usize = 16;

/// The gossip topics of a chain.
#[derive(Clone, Debug)]
pub struct Topics {
    pub blocks: String,
    pub transactions: String,
    pub consensus: String,
    pub evidence: String,
}

impl Topics {
    pub fn for_chain(chain_id: &str) -> Topics {
        Topics {
            blocks: format!("generals/{chain_id}/blocks/1"),
            transactions: format!("generals/{chain_id}/txs/1"),
            consensus: format!("generals/{chain_id}/consensus/1"),
            evidence: format!("generals/{chain_id}/evidence/1"),
        }
    }

    pub fn all(&self) -> [&str; 4] {
        [
            &self.blocks,
            &self.transactions,
            &self.consensus,
            &self.evidence,
        ]
    }

    /// A short name of a topic, for metrics.
    pub fn name(&self, topic: &str) -> &'static str {
        if topic == self.blocks {
            "blocks"
        } else if topic == self.transactions {
            "transactions"
        } else if topic == self.consensus {
            "consensus"
        } else if topic == self.evidence {
            "evidence"
        } else {
            "other"
        }
    }
}

/// A sync request.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub enum SyncRequest {
    /// The peer's tip and its cumulative weight.
    Status,
    /// Main-chain headers after the first locator hash the peer knows
    /// (Bitcoin's block locator: the tip, then back exponentially to genesis).
    Headers { locator: Vec<Hash>, max: u32 },
    /// Blocks by hash.
    Blocks { hashes: Vec<Hash> },
}

/// A sync response.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub enum SyncResponse {
    Status {
        genesis: Hash,
        tip: Hash,
        height: u64,
        /// Cumulative weight as big-endian bytes (u128).
        weight: [u8; 16],
    },
    Headers(Vec<Header>),
    Blocks(Vec<Block>),
    /// The request was malformed or too large.
    Refused(String),
}

/// A request-response codec: a 4-byte big-endian length, then that many bytes
/// of the one codec; lengths over the limit (`REQ` for requests, `RES` for
/// responses) are refused before reading.
pub struct Framed<Req, Res, const REQ: usize, const RES: usize>(PhantomData<fn() -> (Req, Res)>);

impl<Req, Res, const REQ: usize, const RES: usize> Default for Framed<Req, Res, REQ, RES> {
    fn default() -> Self {
        Framed(PhantomData)
    }
}

impl<Req, Res, const REQ: usize, const RES: usize> Clone for Framed<Req, Res, REQ, RES> {
    fn clone(&self) -> Self {
        Framed(PhantomData)
    }
}

/// The sync protocol's codec.
pub type SyncCodec = Framed<SyncRequest, SyncResponse, MAX_SYNC_REQUEST_BYTES, MAX_SYNC_BYTES>;

pub const SYNC_PROTOCOL: &str = "/generals/sync/1";

/// Reads a frame of at most `limit` bytes; the buffer grows as bytes arrive,
/// so a length prefix alone allocates at most 4 KiB.
async fn read_frame<T: AsyncRead + Unpin + Send>(io: &mut T, limit: usize) -> io::Result<Vec<u8>> {
    let mut len = [0u8; 4];
    io.read_exact(&mut len).await?;
    let len = u32::from_be_bytes(len) as usize;
    if len > limit {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("frame of {len} bytes is over the limit of {limit}"),
        ));
    }
    // Read straight into the buffer, which grows by doubling as bytes arrive
    // but never past the frame's length: no allocation is over the limit.
    let mut buf: Vec<u8> = Vec::new();
    while buf.len() < len {
        let start = buf.len();
        if start == buf.capacity() {
            let to = (start * 2).max(4_096).min(len);
            buf.reserve_exact(to - start);
        }
        buf.resize(buf.capacity().min(len), 0);
        let n = io.read(&mut buf[start..]).await?;
        buf.truncate(start + n);
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "frame cut short",
            ));
        }
    }
    Ok(buf)
}

async fn write_frame<T: AsyncWrite + Unpin + Send>(io: &mut T, bytes: &[u8]) -> io::Result<()> {
    let len = u32::try_from(bytes.len())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "frame too large"))?;
    io.write_all(&len.to_be_bytes()).await?;
    io.write_all(bytes).await?;
    io.close().await
}

fn invalid(e: codec::CodecError) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e.to_string())
}

#[async_trait]
impl<Req, Res, const REQ: usize, const RES: usize> libp2p::request_response::Codec
    for Framed<Req, Res, REQ, RES>
where
    Req: Encode + Decode<()> + Send + 'static,
    Res: Encode + Decode<()> + Send + 'static,
{
    type Protocol = libp2p::StreamProtocol;
    type Request = Req;
    type Response = Res;

    async fn read_request<T>(&mut self, _: &Self::Protocol, io: &mut T) -> io::Result<Req>
    where
        T: AsyncRead + Unpin + Send,
    {
        let bytes = read_frame(io, REQ).await?;
        codec::decode::<_, REQ>("request", &bytes).map_err(invalid)
    }

    async fn read_response<T>(&mut self, _: &Self::Protocol, io: &mut T) -> io::Result<Res>
    where
        T: AsyncRead + Unpin + Send,
    {
        let bytes = read_frame(io, RES).await?;
        codec::decode::<_, RES>("response", &bytes).map_err(invalid)
    }

    async fn write_request<T>(&mut self, _: &Self::Protocol, io: &mut T, req: Req) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        write_frame(io, &codec::encode(&req)).await
    }

    async fn write_response<T>(
        &mut self,
        _: &Self::Protocol,
        io: &mut T,
        res: Res,
    ) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        write_frame(io, &codec::encode(&res)).await
    }
}
