//! OData system query options (`$top`, `$skip`, `$skiptoken`, `$inlinecount`, `$select`,
//! `$expand`, `$orderby`, `$filter`) and the paging arithmetic shared by every collection.

use url::form_urlencoded;

use crate::reply::ApiError;

#[derive(Clone, Debug, Default)]
pub(crate) struct QueryOptions {
    pub filter: Option<String>,
    pub orderby: Option<String>,
    pub top: Option<usize>,
    pub skip: usize,
    pub skiptoken: usize,
    pub inlinecount: bool,
    pub select: Option<Vec<String>>,
    pub expand: Vec<String>,
    /// CPI's non-standard `filterCustomHeaderProperties`.
    pub custom_header: Option<String>,
    pub keystore_name: Option<String>,
    /// `DataStores?overdueonly=true`.
    pub overdue_only: bool,
    /// The raw (still encoded) query without `$skiptoken`, for building `__next`.
    pub raw_without_skiptoken: String,
}

fn number(name: &str, v: &str) -> Result<usize, ApiError> {
    v.trim().parse::<usize>().map_err(|_| {
        ApiError::bad_request(format!(
            "Invalid value for system query option {name}: '{v}' is not a non-negative integer"
        ))
    })
}

fn list(v: &str) -> Vec<String> {
    v.split(',')
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect()
}

pub(crate) fn parse(raw: &str) -> Result<QueryOptions, ApiError> {
    let mut q = QueryOptions::default();
    let mut kept: Vec<&str> = Vec::new();
    for part in raw.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = form_urlencoded::parse(part.as_bytes())
            .next()
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .unwrap_or_default();
        if k != "$skiptoken" {
            kept.push(part);
        }
        match k.as_str() {
            "$filter" => q.filter = Some(v),
            "$orderby" => q.orderby = Some(v),
            "$top" => q.top = Some(number("$top", &v)?),
            "$skip" => q.skip = number("$skip", &v)?,
            "$skiptoken" => q.skiptoken = number("$skiptoken", &v)?,
            "$inlinecount" => match v.as_str() {
                "allpages" => q.inlinecount = true,
                "none" => q.inlinecount = false,
                _ => {
                    return Err(ApiError::bad_request(format!(
                        "Invalid value for system query option $inlinecount: '{v}'"
                    )));
                }
            },
            "$select" => q.select = Some(list(&v)),
            "$expand" => q.expand = list(&v),
            // JSON is all the simulator speaks; `json` is accepted, Atom is refused clearly.
            "$format" if v != "json" => {
                return Err(ApiError {
                    status: 406,
                    message: format!("The simulator only serves JSON, not $format={v}"),
                });
            }
            "$format" => {}
            "filterCustomHeaderProperties" => q.custom_header = Some(v),
            "keystoreName" => q.keystore_name = Some(v),
            "overdueonly" => q.overdue_only = v.eq_ignore_ascii_case("true"),
            k if k.starts_with('$') => {
                return Err(ApiError::bad_request(format!(
                    "The system query option '{k}' is not supported"
                )));
            }
            // Custom query options are allowed by OData and ignored here.
            _ => {}
        }
    }
    q.raw_without_skiptoken = kept.join("&");
    Ok(q)
}

/// Which slice of a result of `total` entries one response carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct PageWindow {
    /// First entry (position in the full, ordered result).
    pub start: usize,
    pub len: usize,
    /// `$skiptoken` of the next page, when there is one.
    pub next_token: Option<usize>,
}

/// `$skip`/`$top` cut the result first; the server then pages that cut at `page_size`, and
/// `$skiptoken` is the offset within it.
pub(crate) fn window(q: &QueryOptions, total: usize, page_size: usize) -> PageWindow {
    let cut_start = q.skip.min(total);
    let cut_len = match q.top {
        Some(top) => top.min(total - cut_start),
        None => total - cut_start,
    };
    let offset = q.skiptoken.min(cut_len);
    let len = page_size.min(cut_len - offset);
    let next_token = (offset + len < cut_len).then_some(offset + len);
    PageWindow {
        start: cut_start + offset,
        len,
        next_token,
    }
}

/// The `__next` link: the request's own query with `$skiptoken` replaced.
pub(crate) fn next_link(
    absolute_root: Option<&str>,
    resource_path: &str,
    q: &QueryOptions,
    token: usize,
) -> String {
    let mut s = String::with_capacity(128 + q.raw_without_skiptoken.len());
    if let Some(root) = absolute_root {
        s.push_str(root);
        s.push('/');
    }
    s.push_str(resource_path);
    s.push('?');
    if !q.raw_without_skiptoken.is_empty() {
        s.push_str(&q.raw_without_skiptoken);
        s.push('&');
    }
    s.push_str("$skiptoken=");
    s.push_str(&token.to_string());
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_are_decoded() {
        let q = parse("$filter=Status%20eq%20'FAILED'&$top=5&$skip=10&$inlinecount=allpages&$select=Status,LogEnd&$format=json&$skiptoken=1000").unwrap();
        assert_eq!(q.filter.as_deref(), Some("Status eq 'FAILED'"));
        assert_eq!(q.top, Some(5));
        assert_eq!(q.skip, 10);
        assert_eq!(q.skiptoken, 1000);
        assert!(q.inlinecount);
        assert_eq!(q.select.unwrap(), vec!["Status", "LogEnd"]);
        assert!(!q.raw_without_skiptoken.contains("skiptoken"));
        let plus = parse("$filter=Status+eq+'X'").unwrap();
        assert_eq!(plus.filter.as_deref(), Some("Status eq 'X'"));
    }

    #[test]
    fn bad_options_are_400() {
        for bad in ["$top=-1", "$skip=x", "$inlinecount=some", "$search=x"] {
            assert_eq!(parse(bad).unwrap_err().status, 400, "{bad}");
        }
        assert_eq!(parse("$format=atom").unwrap_err().status, 406);
    }

    #[test]
    fn paging_cuts_then_pages() {
        let q = QueryOptions::default();
        assert_eq!(
            window(&q, 2500, 1000),
            PageWindow {
                start: 0,
                len: 1000,
                next_token: Some(1000)
            }
        );
        let q = QueryOptions {
            skiptoken: 2000,
            ..Default::default()
        };
        assert_eq!(
            window(&q, 2500, 1000),
            PageWindow {
                start: 2000,
                len: 500,
                next_token: None
            }
        );
        let q = QueryOptions {
            top: Some(1500),
            skip: 100,
            ..Default::default()
        };
        let w = window(&q, 2500, 1000);
        assert_eq!((w.start, w.len, w.next_token), (100, 1000, Some(1000)));
        let q = QueryOptions {
            top: Some(1500),
            skip: 100,
            skiptoken: 1000,
            ..Default::default()
        };
        let w = window(&q, 2500, 1000);
        assert_eq!((w.start, w.len, w.next_token), (1100, 500, None));
        let q = QueryOptions {
            skip: 5000,
            ..Default::default()
        };
        assert_eq!(window(&q, 2500, 1000).len, 0);
    }

    #[test]
    fn next_links_keep_the_query() {
        let q = parse("$filter=Status%20eq%20'X'&$skiptoken=1000").unwrap();
        assert_eq!(
            next_link(None, "MessageProcessingLogs", &q, 2000),
            "MessageProcessingLogs?$filter=Status%20eq%20'X'&$skiptoken=2000"
        );
        assert_eq!(
            next_link(
                Some("http://h/api/v1"),
                "MessageProcessingLogs",
                &QueryOptions::default(),
                1000
            ),
            "http://h/api/v1/MessageProcessingLogs?$skiptoken=1000"
        );
    }
}
