//! The domain's identifiers as database values: ids are stored as their UUID text, thumbprints
//! as their base64url text, on both backends. A value that does not parse back (written by
//! something else) is a decode error, never a panic or a wrong id.

use sqlx::encode::IsNull;
use sqlx::error::BoxDynError;
use sqlx::postgres::{PgArgumentBuffer, PgTypeInfo, PgValueRef, Postgres};
use sqlx::sqlite::{Sqlite, SqliteArgumentsBuffer, SqliteTypeInfo, SqliteValueRef};
use sqlx::{Decode, Encode, Type};

use crate::domain::{DeviceId, Jkt, OrgId, ServerKeyId, SessionId, UserId, WebhookId};

macro_rules! text_value {
    ($name:ty, $what:literal) => {
        impl Type<Sqlite> for $name {
            fn type_info() -> SqliteTypeInfo {
                <String as Type<Sqlite>>::type_info()
            }
            fn compatible(ty: &SqliteTypeInfo) -> bool {
                <String as Type<Sqlite>>::compatible(ty)
            }
        }

        impl Type<Postgres> for $name {
            fn type_info() -> PgTypeInfo {
                <String as Type<Postgres>>::type_info()
            }
            fn compatible(ty: &PgTypeInfo) -> bool {
                <String as Type<Postgres>>::compatible(ty)
            }
        }

        impl Encode<'_, Sqlite> for $name {
            fn encode_by_ref(
                &self,
                buf: &mut SqliteArgumentsBuffer,
            ) -> Result<IsNull, BoxDynError> {
                <String as Encode<'_, Sqlite>>::encode(self.to_string(), buf)
            }
        }

        impl Encode<'_, Postgres> for $name {
            fn encode_by_ref(&self, buf: &mut PgArgumentBuffer) -> Result<IsNull, BoxDynError> {
                <String as Encode<'_, Postgres>>::encode(self.to_string(), buf)
            }
        }

        impl<'r> Decode<'r, Sqlite> for $name {
            fn decode(value: SqliteValueRef<'r>) -> Result<Self, BoxDynError> {
                let text = <&str as Decode<'r, Sqlite>>::decode(value)?;
                <$name>::parse(text).ok_or_else(|| format!("not {}: {text:?}", $what).into())
            }
        }

        impl<'r> Decode<'r, Postgres> for $name {
            fn decode(value: PgValueRef<'r>) -> Result<Self, BoxDynError> {
                let text = <&str as Decode<'r, Postgres>>::decode(value)?;
                <$name>::parse(text).ok_or_else(|| format!("not {}: {text:?}", $what).into())
            }
        }
    };
}

text_value!(UserId, "a user id");
text_value!(SessionId, "a session id");
text_value!(DeviceId, "a device id");
text_value!(OrgId, "an organization id");
text_value!(ServerKeyId, "a server key id");
text_value!(WebhookId, "a webhook endpoint id");
text_value!(Jkt, "a JWK thumbprint");
