//! The staff API's JSON bodies: the requests the coordinator decodes from staff and the
//! exchange backend, and the replies their clients decode.

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::api::{
    ApproveWithdrawal, ErrorBody, NewWithdrawal, RejectWithdrawal, WithdrawalDetail, WithdrawalList,
    WithdrawalStatus,
};

/// Decodes `data` as `T`; whatever decodes re-encodes to a value that decodes the same.
fn round_trip<T: Serialize + DeserializeOwned + PartialEq + std::fmt::Debug>(data: &[u8]) {
    if let Ok(value) = serde_json::from_slice::<T>(data) {
        let encoded = serde_json::to_vec(&value).expect("a decoded body encodes");
        let again: T = serde_json::from_slice(&encoded).expect("an encoded body decodes");
        assert_eq!(again, value, "a body changed in a round trip");
    }
}

/// Every staff API body type on the same bytes, and a status name from the query string.
pub fn staff_api_body(data: &[u8]) {
    round_trip::<NewWithdrawal>(data);
    round_trip::<ApproveWithdrawal>(data);
    round_trip::<RejectWithdrawal>(data);
    round_trip::<WithdrawalDetail>(data);
    round_trip::<WithdrawalList>(data);
    round_trip::<ErrorBody>(data);
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(status) = text.parse::<WithdrawalStatus>() {
            assert_eq!(status.as_str(), text);
        }
    }
}
