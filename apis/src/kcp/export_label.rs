//! `internal.apis.kcp.io/export`: the label on every APIBinding that names
//! the export it binds, as a hash.
//!
//! kcp's APIExport virtual workspace serves a provider the APIBindings of
//! its export (read-only, in every consumer workspace and across them) by
//! selecting on this label, and clients such as multicluster-runtime's kcp
//! provider watch them to learn which workspaces to engage. The value must
//! be byte-identical to kcp's (`permissionclaims.ToAPIBindingExportLabelValue`:
//! sha224 of `<export cluster>:<export name>`, the digest as a big-endian
//! number written in base 62 with Go's `big.Int` digits and no leading
//! zeros), so selectors written against kcp select the same objects here.
//! It names the export by its logical cluster, not its path: a path can be
//! re-pointed, a cluster name cannot.

use sha2::{Digest, Sha224};

/// The label key.
pub const EXPORT_LABEL: &str = "internal.apis.kcp.io/export";

/// Go's `big.Int.Text(62)` digits.
const DIGITS: &[u8; 62] = b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";

/// The label's value for export `name` of logical cluster `cluster`.
pub fn export_label_value(cluster: &str, name: &str) -> String {
    let digest = Sha224::digest(format!("{cluster}:{name}").as_bytes());
    base62(&digest)
}

/// `bytes` as one big-endian number in base 62, as Go's `big.Int` writes it.
fn base62(bytes: &[u8]) -> String {
    let mut n: Vec<u8> = bytes.iter().copied().skip_while(|b| *b == 0).collect();
    if n.is_empty() {
        return "0".into();
    }
    let mut out = Vec::new();
    // Long division by 62 until nothing is left; digits come out least
    // significant first.
    while !n.is_empty() {
        let mut rem = 0u32;
        for b in n.iter_mut() {
            let cur = (rem << 8) | u32::from(*b);
            *b = (cur / 62) as u8;
            rem = cur % 62;
        }
        out.push(DIGITS[rem as usize]);
        let lead = n.iter().take_while(|b| **b == 0).count();
        n.drain(..lead);
    }
    out.reverse();
    String::from_utf8(out).expect("ASCII digits")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_kcps() {
        // kcp's own stability test (sdk/apis/apis/v1alpha1/permissionclaims).
        assert_eq!(
            export_label_value("root", "tenancy.kcp.io"),
            "bmCdly9xXiUpEHe3ypvDwvXMTfoVZUE92mqAQf"
        );
        assert_eq!(
            export_label_value("abcd1234", "my-export"),
            "phGj1BkmdNY3LKTrtFc1KGLYTBs8Nt50p8PIU"
        );
    }

    #[test]
    fn base62_matches_go_big_int() {
        // kcp's hasher tests: sha224 of "", "hello", and one whose digest
        // starts with a zero byte (dropped, as big.Int drops it).
        let h = |s: &str| base62(&Sha224::digest(s.as_bytes()));
        assert_eq!(h(""), "aAkHCkvjglfF66mdhRcVKb0I3FT1lepYlWZNwj");
        assert_eq!(h("hello"), "bPWFAjMdldrWYheSsV0t7VkdTNtgGHBplr6qLF");
        assert_eq!(h("input50"), "WF7EK9IErgKvTHdcQRzkjJDEJDBOwfQSmzEQ");
        assert_eq!(base62(&[0, 0]), "0");
        assert_eq!(base62(&[62]), "10");
        assert_eq!(base62(&[1, 0]), "48");
    }
}
