//! Lists that come a page at a time, newest first: `limit` (1 to 500, 500
//! when unset) and `before_id`; the answer's `next_before_id`, when there
//! are older rows, is the next page's `before_id`.

use crate::error::{ApiError, ApiResult};

/// The largest page, and the size when `limit` is unset.
pub const MAX: i64 = 500;

/// The page size `limit` asks for, or a 400 naming `limit`.
pub fn size(limit: Option<i64>) -> ApiResult<i64> {
    let size = limit.unwrap_or(MAX);
    if (1..=MAX).contains(&size) {
        Ok(size)
    } else {
        Err(ApiError::invalid("limit", format!("must be between 1 and {MAX}")))
    }
}

/// Cuts `rows`, read with one more than `size` (so a next page shows), to
/// the page, and gives the `before_id` of the next page, if there is one.
pub fn cut<T>(rows: &mut Vec<T>, size: i64, id: impl Fn(&T) -> i64) -> Option<i64> {
    if rows.len() as i64 <= size {
        return None;
    }
    rows.truncate(size as usize);
    rows.last().map(id)
}
