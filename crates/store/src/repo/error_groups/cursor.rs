//! The Errors list's opaque paging cursor: the last item's sort key and id, with a checksum so
//! an edited or truncated cursor is refused with a clear error rather than paging wrongly.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use super::GroupSort;
use crate::error::StoreError;

fn tag(sort: GroupSort) -> &'static str {
    match sort {
        GroupSort::LastSeen => "l",
        GroupSort::Occurrences => "o",
        GroupSort::FirstSeen => "f",
    }
}

/// FNV-1a over the body. Not a signature: a forged cursor only moves within visible groups.
fn checksum(s: &str) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    for b in s.bytes() {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    h
}

/// `key`: the sort value (nanoseconds of a timestamp, or an occurrence count).
pub(crate) fn encode(sort: GroupSort, key: i64, id: i64) -> String {
    let body = format!("g1.{}.{key}.{id}", tag(sort));
    URL_SAFE_NO_PAD.encode(format!("{body}.{:08x}", checksum(&body)))
}

pub(crate) fn decode(s: &str, sort: GroupSort) -> Result<(i64, i64), StoreError> {
    let bad = |reason: &str| StoreError::InvalidArgument {
        field: "after",
        reason: reason.to_owned(),
    };
    let bytes = URL_SAFE_NO_PAD
        .decode(s)
        .map_err(|_| bad("not a cursor returned by a previous page"))?;
    let text = String::from_utf8(bytes).map_err(|_| bad("not a cursor"))?;
    let (body, sum) = text.rsplit_once('.').ok_or_else(|| bad("not a cursor"))?;
    if format!("{:08x}", checksum(body)) != sum {
        return Err(bad("the cursor was altered"));
    }
    let parts: Vec<&str> = body.split('.').collect();
    let [version, t, key, id] = parts[..] else {
        return Err(bad("not a cursor"));
    };
    if version != "g1" {
        return Err(bad("cursor from another version"));
    }
    if t != tag(sort) {
        return Err(bad("the cursor belongs to another sort order"));
    }
    let key = key.parse().map_err(|_| bad("not a cursor"))?;
    let id = id.parse().map_err(|_| bad("not a cursor"))?;
    Ok((key, id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_refuse_tampering() {
        let c = encode(GroupSort::Occurrences, 1234, 56);
        assert_eq!(decode(&c, GroupSort::Occurrences).unwrap(), (1234, 56));
        assert!(decode(&c, GroupSort::LastSeen).is_err());
        let text = String::from_utf8(URL_SAFE_NO_PAD.decode(&c).unwrap()).unwrap();
        let edited = URL_SAFE_NO_PAD.encode(text.replace(".56.", ".55."));
        for bad in [edited.as_str(), "", "!!", &c[..c.len() - 2]] {
            assert!(
                matches!(
                    decode(bad, GroupSort::Occurrences),
                    Err(StoreError::InvalidArgument { field: "after", .. })
                ),
                "{bad:?}"
            );
        }
    }
}
