//! `JsonBody<T>`: a JSON request body read within the size limit and parsed with the path of any
//! bad field, so every mistake a client makes comes back as problem+json naming what to fix.

use crate::problem::ApiError;
use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{web, FromRequest, HttpRequest};
use futures_util::future::LocalBoxFuture;
use futures_util::StreamExt;
use serde::de::DeserializeOwned;
use serde::de::{MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use serde_json::Value;

/// The largest body a route accepts, as configured.
#[derive(Clone, Copy, Debug)]
pub struct BodyLimit(pub usize);

pub struct JsonBody<T>(pub T);

impl<T: DeserializeOwned + 'static> FromRequest for JsonBody<T> {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let limit = req
            .app_data::<web::Data<BodyLimit>>()
            .map(|l| l.0)
            .unwrap_or(1024 * 1024);
        let content_type = media_type(req);
        let declared_length = declared_length(req);
        let mut payload = payload.take();
        Box::pin(async move {
            require_json(&content_type)?;
            let bytes = read_limited(&mut payload, declared_length, limit).await?;
            parse_json(&bytes).map(JsonBody)
        })
    }
}

/// A JSON body that may be left out: a request with no body at all, or a JSON `null`, reads
/// as `T::default()`; any other body must be JSON, as for [`JsonBody`].
pub struct OptionalJsonBody<T>(pub T);

impl<T: DeserializeOwned + Default + 'static> FromRequest for OptionalJsonBody<T> {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let limit = req
            .app_data::<web::Data<BodyLimit>>()
            .map(|l| l.0)
            .unwrap_or(1024 * 1024);
        let content_type = media_type(req);
        let declared_length = declared_length(req);
        let mut payload = payload.take();
        Box::pin(async move {
            let bytes = read_limited(&mut payload, declared_length, limit).await?;
            if bytes.is_empty() {
                return Ok(OptionalJsonBody(T::default()));
            }
            require_json(&content_type)?;
            if bytes.trim_ascii() == b"null" {
                return Ok(OptionalJsonBody(T::default()));
            }
            parse_json(&bytes).map(OptionalJsonBody)
        })
    }
}

/// The body length the client announced in `Content-Length`, if any.
pub fn declared_length(req: &HttpRequest) -> Option<usize> {
    req.headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
}

/// The media type of the request, lower-case and without parameters.
pub fn media_type(req: &HttpRequest) -> String {
    req.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        })
        .unwrap_or_default()
}

/// `415` unless the body is declared JSON.
fn require_json(content_type: &str) -> Result<(), ApiError> {
    if is_json(content_type) {
        return Ok(());
    }
    Err(ApiError::UnsupportedMediaType(format!(
        "send the body as application/json, not {}",
        if content_type.is_empty() {
            "without a Content-Type"
        } else {
            content_type
        }
    )))
}

fn is_json(media_type: &str) -> bool {
    media_type == "application/json" || media_type.ends_with("+json")
}

/// Reads the whole body, refusing it as soon as it passes `limit`.
pub async fn read_limited<S, E>(
    payload: &mut S,
    declared_length: Option<usize>,
    limit: usize,
) -> Result<web::BytesMut, ApiError>
where
    S: futures_util::Stream<Item = Result<web::Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    if declared_length.is_some_and(|length| length > limit) {
        return Err(ApiError::PayloadTooLarge { limit });
    }
    let mut body = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| {
            ApiError::bad_request(
                "unreadable_body",
                format!("the request body could not be read: {e}"),
            )
        })?;
        if body.len() + chunk.len() > limit {
            return Err(ApiError::PayloadTooLarge { limit });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// Parses JSON: a syntax error is 400, a body of the wrong shape is 422 naming the field.
///
/// The body is read into a [`Value`] first (see [`parse_value`]), so a number with no fraction
/// is an integer however it is written, as JSON Schema counts it: `4.0` fills an integer field
/// and `4.5` is refused.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let value = parse_value(bytes)?;
    serde_path_to_error::deserialize(value).map_err(|error| {
        let path = error.path().to_string();
        ApiError::UnprocessableBody {
            detail: error.into_inner().to_string(),
            field: (path != ".").then_some(path),
        }
    })
}

/// Parses a JSON document, with every whole number as an integer and a duplicated member
/// refused (422), as it would be by a field of a struct.
pub fn parse_value(bytes: &[u8]) -> Result<Value, ApiError> {
    let deserializer = &mut serde_json::Deserializer::from_slice(bytes);
    let Normalised(value) =
        serde_path_to_error::deserialize(&mut *deserializer).map_err(|error| {
            let path = error.path().to_string();
            refusal(bytes, error.into_inner(), (path != ".").then_some(path))
        })?;
    deserializer.end().map_err(|e| refusal(bytes, e, None))?;
    Ok(value)
}

/// A syntax error is 400, a value of the wrong shape 422 naming its field.
fn refusal(bytes: &[u8], error: serde_json::Error, field: Option<String>) -> ApiError {
    match error.classify() {
        serde_json::error::Category::Data => ApiError::UnprocessableBody {
            detail: error.to_string(),
            field,
        },
        serde_json::error::Category::Eof if bytes.iter().all(u8::is_ascii_whitespace) => {
            ApiError::bad_request(
                "malformed_json",
                "the request body is empty; send a JSON object",
            )
        }
        _ => ApiError::bad_request(
            "malformed_json",
            format!("the request body is not valid JSON: {error}"),
        ),
    }
}

/// A JSON value whose whole numbers are integers (`4.0` is read as `4`), with no member twice.
struct Normalised(Value);

impl<'de> Deserialize<'de> for Normalised {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer
            .deserialize_any(NormalisedVisitor)
            .map(Normalised)
    }
}

struct NormalisedVisitor;

impl<'de> Visitor<'de> for NormalisedVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(whole_number(v).unwrap_or_else(|| Value::from(v)))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(Normalised(item)) = seq.next_element()? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut members = serde_json::Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if members.contains_key(&key) {
                return Err(serde::de::Error::custom(format_args!(
                    "duplicate field `{key}`"
                )));
            }
            let Normalised(value) = map.next_value()?;
            members.insert(key, value);
        }
        Ok(Value::Object(members))
    }
}

/// `v` as an integer, when it has no fraction and an integer type holds it exactly.
fn whole_number(v: f64) -> Option<Value> {
    // 2^63 and 2^64 are exact as floats; every whole float below them converts exactly.
    const I64_END: f64 = 9_223_372_036_854_775_808.0;
    const U64_END: f64 = 18_446_744_073_709_551_616.0;
    if v.fract() != 0.0 || !v.is_finite() {
        return None;
    }
    if (-I64_END..I64_END).contains(&v) {
        Some(Value::from(v as i64))
    } else if (0.0..U64_END).contains(&v) {
        Some(Value::from(v as u64))
    } else {
        None
    }
}

/// Applies one field of a PATCH body: a change given replaces the value, an absent one leaves
/// it. With [`absent_or_nullable`] fields, `Some(None)` clears an optional value.
pub fn apply_change<T>(field: &mut T, change: Option<T>) {
    if let Some(value) = change {
        *field = value;
    }
}

/// For optional fields of a PATCH body: absent is `None` (leave as is), `null` is `Some(None)`
/// (clear it), a value is `Some(Some(value))`. Use with `#[serde(default, deserialize_with = ...)]`.
pub fn absent_or_nullable<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_numbers_become_integers_and_others_stay_as_they_are() {
        let value =
            parse_value(br#"[4.0, -3.0, 1e2, -0.0, 4.5, 1e300, 9223372036854775808.0]"#).unwrap();
        assert_eq!(
            value,
            serde_json::json!([4, -3, 100, 0, 4.5, 1e300, 9_223_372_036_854_775_808_u64])
        );
        let nested: Value = parse_value(br#"{"a": {"b": [2.0]}}"#).unwrap();
        assert_eq!(nested["a"]["b"][0].as_i64(), Some(2));
    }

    #[test]
    fn an_integer_field_takes_a_whole_number_and_refuses_a_fraction() {
        #[derive(Deserialize, Debug)]
        struct Body {
            count: i32,
        }
        assert_eq!(parse_json::<Body>(br#"{"count": 7.0}"#).unwrap().count, 7);
        match parse_json::<Body>(br#"{"count": 7.25}"#) {
            Err(ApiError::UnprocessableBody { field, .. }) => {
                assert_eq!(field.as_deref(), Some("count"))
            }
            other => panic!(
                "expected a 422 naming count, got {:?}",
                other.map(|b| b.count)
            ),
        }
    }
}
