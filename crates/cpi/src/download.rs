//! `$value` downloads (payloads, attachments, error texts, artifact zips) under a size cap. A
//! body over the cap is reported as [`DownloadOutcome::TooLarge`] — known from Content-Length
//! before reading, or noticed while streaming — and is never held in memory whole.

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncWrite, AsyncWriteExt};
use url::Url;

use crate::client::CpiClient;
use crate::error::CpiError;
use crate::http::{content_type, transport_error};
use crate::limits::ApiFamily;

/// Result of streaming a download into a writer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DownloadOutcome {
    Complete {
        bytes: u64,
        content_type: Option<String>,
    },
    /// Over the cap. The writer holds the first `bytes_written` bytes (up to the cap, none when
    /// Content-Length already told): a partial body, to be discarded or shown as cut.
    TooLarge {
        limit: u64,
        content_length: Option<u64>,
        bytes_written: u64,
    },
}

/// Result of collecting a download into memory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Collected {
    Complete {
        data: Bytes,
        content_type: Option<String>,
    },
    TooLarge {
        limit: u64,
        content_length: Option<u64>,
    },
}

impl CpiClient {
    /// Streams the body of `url` into `writer`, stopping at `cap` bytes. The request is
    /// retried while nothing has been written; a break in mid-stream is returned as an error
    /// (the writer already has part of the body).
    pub async fn download_to<W>(
        &self,
        family: ApiFamily,
        url: &Url,
        writer: &mut W,
        cap: u64,
    ) -> Result<DownloadOutcome, CpiError>
    where
        W: AsyncWrite + Unpin + ?Sized,
    {
        self.download_inner(family, url, writer, cap, false).await
    }

    /// Like [`CpiClient::download_to`], but a body over the cap still yields its first `cap`
    /// bytes (for texts worth showing cut, like error messages).
    pub async fn download_prefix<W>(
        &self,
        family: ApiFamily,
        url: &Url,
        writer: &mut W,
        cap: u64,
    ) -> Result<DownloadOutcome, CpiError>
    where
        W: AsyncWrite + Unpin + ?Sized,
    {
        self.download_inner(family, url, writer, cap, true).await
    }

    async fn download_inner<W>(
        &self,
        family: ApiFamily,
        url: &Url,
        writer: &mut W,
        cap: u64,
        keep_prefix: bool,
    ) -> Result<DownloadOutcome, CpiError>
    where
        W: AsyncWrite + Unpin + ?Sized,
    {
        let timeout = self.inner.config.timeouts.download;
        let mut attempt = 0;
        let (mut resp, _permit) = self.send(family, url, "*/*", timeout, &mut attempt).await?;
        let ct = content_type(resp.headers());
        let declared = resp.content_length();
        if let Some(len) = declared
            && len > cap
            && !keep_prefix
        {
            return Ok(DownloadOutcome::TooLarge {
                limit: cap,
                content_length: Some(len),
                bytes_written: 0,
            });
        }
        let mut written: u64 = 0;
        while let Some(chunk) = resp
            .chunk()
            .await
            .map_err(|e| transport_error(&e, url.as_str(), timeout))?
        {
            if written + chunk.len() as u64 > cap {
                // Fill up to the cap (an error text cut at the cap is still useful), then stop
                // reading: the rest is never transferred into memory.
                let room = (cap - written) as usize;
                writer
                    .write_all(&chunk[..room])
                    .await
                    .map_err(|e| write_error(url, &e))?;
                writer.flush().await.map_err(|e| write_error(url, &e))?;
                return Ok(DownloadOutcome::TooLarge {
                    limit: cap,
                    content_length: declared,
                    bytes_written: cap,
                });
            }
            writer
                .write_all(&chunk)
                .await
                .map_err(|e| write_error(url, &e))?;
            written += chunk.len() as u64;
        }
        writer.flush().await.map_err(|e| write_error(url, &e))?;
        Ok(DownloadOutcome::Complete {
            bytes: written,
            content_type: ct,
        })
    }

    /// Collects the body of `url` in memory, up to `cap` bytes. Broken transfers are retried.
    pub async fn download_collect(
        &self,
        family: ApiFamily,
        url: &Url,
        cap: u64,
    ) -> Result<Collected, CpiError> {
        let timeout = self.inner.config.timeouts.download;
        let mut attempt = 0;
        loop {
            let (mut resp, permit) = self.send(family, url, "*/*", timeout, &mut attempt).await?;
            let ct = content_type(resp.headers());
            let declared = resp.content_length();
            if let Some(len) = declared
                && len > cap
            {
                return Ok(Collected::TooLarge {
                    limit: cap,
                    content_length: Some(len),
                });
            }
            let mut buf = BytesMut::with_capacity(declared.unwrap_or(8192).min(cap) as usize);
            let mut failed = None;
            loop {
                match resp.chunk().await {
                    Ok(Some(chunk)) => {
                        if buf.len() as u64 + chunk.len() as u64 > cap {
                            return Ok(Collected::TooLarge {
                                limit: cap,
                                content_length: declared,
                            });
                        }
                        buf.extend_from_slice(&chunk);
                    }
                    Ok(None) => break,
                    Err(e) => {
                        failed = Some(transport_error(&e, url.as_str(), timeout));
                        break;
                    }
                }
            }
            drop(permit);
            match failed {
                None => {
                    return Ok(Collected::Complete {
                        data: buf.freeze(),
                        content_type: ct,
                    });
                }
                Some(e) => self.pause_or_fail(e, attempt).await?,
            }
        }
    }
}

fn write_error(url: &Url, e: &std::io::Error) -> CpiError {
    CpiError::Write {
        url: url.to_string(),
        detail: e.to_string(),
    }
}
