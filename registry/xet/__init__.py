"""The Xet protocol's formats, for the server's upload path (`web/api/xet.py`).

huggingface_hub uploads every LFS file through Xet whenever `hf_xet` is
installed: files are cut into content-defined chunks, new chunks are packed into
xorbs and uploaded, then a shard lists each file as ranges of xorb chunks. This
package reads those formats and turns a shard's files back into ordinary blobs
of the store, keyed by sha256, so the commit that follows finds them.

- `hashes`: keyed BLAKE3, the Merkle tree of xorbs and files, hash strings;
- `xorb`: chunk headers, decompression (none, LZ4, ByteGrouping4 + LZ4), scanning;
- `shard`: the shard format, read from an upload and written for dedupe answers;
- `cas`: where xorbs, their chunk indexes and the dedupe index are stored;
- `reconstruct`: checking a shard and rebuilding its files into the store.

Reference: the Xet Protocol Specification 1.1.0 and xet-core (`xet_core_structures`).
"""
