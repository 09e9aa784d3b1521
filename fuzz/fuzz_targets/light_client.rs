//! The light client from genesis, fed a sequence of items (`memecoin_fuzz::items`): kind 0 a
//! finality proof and the headers that link it (`accept_finality`), 1 a signed header (`accept_header`), 2 a list of
//! headers checked with `verify_ancestry` against the finalized anchor, 3 a saved position
//! (`Trusted`) to resume from. It must not panic, finality never moves back, and the client's
//! own saved position always resumes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use memecoin_core::encode::{Decode, Reader};
use memecoin_core::header::{Header, SignedHeader};
use memecoin_core::light::{self, FinalityProof, LightClient, Trusted};

fuzz_target!(|data: &[u8]| {
    let f = memecoin_fuzz::fixture();
    let genesis = &f.net.genesis;
    let mut lc = LightClient::from_genesis(genesis).expect("the fixture genesis is valid");
    for (kind, bytes) in memecoin_fuzz::items(data, 64) {
        let before = *lc.finalized();
        match kind % 4 {
            0 => {
                let mut r = Reader::new(bytes);
                if let Ok(proof) = FinalityProof::decode_from(&mut r) {
                    let links = r.list("links", 64, 1, SignedHeader::decode_from);
                    let links = links.unwrap_or_default();
                    if let Ok(anchor) = lc.accept_finality(&proof, &links) {
                        assert!(anchor.height > before.height);
                        assert_eq!(anchor.hash, proof.source.hash());
                    }
                }
            }
            1 => {
                if let Ok(header) = SignedHeader::from_bytes(bytes) {
                    if let Ok(anchor) = lc.accept_header(&header, &[], u64::MAX - 1) {
                        assert!(anchor.height > before.height);
                    }
                }
            }
            2 => {
                let mut r = Reader::new(bytes);
                let headers = r.list("headers", 64, 1, Header::decode_from);
                if let Ok(headers) = headers {
                    if let Ok(first) = light::verify_ancestry(&headers, &before) {
                        assert_eq!(Some(first.hash), headers.first().map(Header::hash));
                    }
                }
            }
            _ => {
                if let Ok(trusted) = Trusted::from_bytes(bytes) {
                    if let Ok(resumed) = LightClient::resume(genesis, &trusted) {
                        lc = resumed;
                    }
                }
            }
        }
        assert!(lc.finalized().height >= before.height || kind % 4 == 3);
        let saved = lc.trusted();
        let resumed = LightClient::resume(genesis, &saved).expect("own position resumes");
        assert_eq!(resumed.trusted(), saved);
    }
});
