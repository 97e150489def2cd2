//! `/search/INDEX`: full and partial search with automatic pagination.

use std::collections::BTreeMap;

use bytes::Bytes;
use reqwest::Method;
use serde::Deserialize;

use super::to_body;
use crate::client::ChefClient;
use crate::error::Result;

/// Paging and ordering of a search.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchOptions {
    /// Rows per page (default 1000, Chef's own default).
    pub rows: u32,
    /// Solr sort expression, e.g. `name asc`.
    pub sort: Option<String>,
}

impl Default for SearchOptions {
    fn default() -> Self {
        Self {
            rows: 1000,
            sort: None,
        }
    }
}

/// One page of search results as the server returns it.
#[derive(Debug, Clone, Deserialize)]
pub struct SearchPage {
    /// Chef Server: number of matches; goiardi: number of rows in this page.
    #[serde(default)]
    pub total: u64,
    /// Offset of this page.
    #[serde(default)]
    pub start: u64,
    /// The rows.
    #[serde(default)]
    pub rows: Vec<serde_json::Value>,
}

impl ChefClient {
    /// Every object of `index` (`node`, `role`, `client`, `environment`, a data bag) matching
    /// the Solr `query`, all pages fetched (1000 rows each).
    ///
    /// # Errors
    /// The error of the first failing page.
    pub async fn search(&self, index: &str, query: &str) -> Result<Vec<serde_json::Value>> {
        self.search_with(index, query, &SearchOptions::default(), None)
            .await
    }

    /// Partial search: only the attributes named in `keys` (alias → attribute path), e.g.
    /// `{"ip": ["ipaddress"]}`. Rows are `{"url": ..., "data": {"ip": ...}}`.
    ///
    /// # Errors
    /// The error of the first failing page.
    pub async fn partial_search(
        &self,
        index: &str,
        query: &str,
        keys: &BTreeMap<String, Vec<String>>,
    ) -> Result<Vec<serde_json::Value>> {
        self.search_with(index, query, &SearchOptions::default(), Some(keys))
            .await
    }

    /// Search with explicit paging; partial when `keys` is given.
    ///
    /// Pages are fetched until one is short or empty, or `start + rows >= total`. goiardi
    /// reports the page's row count as `total`, so a full page whose `total` equals its length
    /// is taken as "maybe more" and the next page is asked for.
    ///
    /// # Errors
    /// The error of the first failing page.
    pub async fn search_with(
        &self,
        index: &str,
        query: &str,
        options: &SearchOptions,
        keys: Option<&BTreeMap<String, Vec<String>>>,
    ) -> Result<Vec<serde_json::Value>> {
        let page_size = options.rows.max(1);
        let body: Option<Bytes> = keys.map(to_body).transpose()?;
        let mut all = Vec::new();
        let mut start: u64 = 0;
        loop {
            let mut url = self.url_for(&format!("search/{index}"))?;
            {
                let mut q = url.query_pairs_mut();
                q.append_pair("q", query)
                    .append_pair("start", &start.to_string())
                    .append_pair("rows", &page_size.to_string());
                if let Some(sort) = &options.sort {
                    q.append_pair("sort", sort);
                }
            }
            let method = if body.is_some() {
                Method::POST
            } else {
                Method::GET
            };
            let page: SearchPage = self.send_signed(method, &url, body.clone()).await?.json()?;
            let got = page.rows.len() as u64;
            all.extend(page.rows);
            start += got;
            let more = got == u64::from(page_size) && (page.total > start || page.total == got);
            if !more {
                return Ok(all);
            }
        }
    }
}
