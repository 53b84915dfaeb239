//! events.k8s.io/v1 (k8s.io/api/events/v1/types.go).

use k8s_pb::api::events::v1 as e;

use crate::proto::fields::message;
use crate::proto::types::list;

message!(e::Event {
    "metadata" => metadata: object,
    "eventTime" => event_time: micro_time,
    "series" => series: object,
    "reportingController" => reporting_controller: string,
    "reportingInstance" => reporting_instance: string,
    "action" => action: string,
    "reason" => reason: string,
    "regarding" => regarding: object,
    "related" => related: object,
    "note" => note: string,
    "type" => r#type: string,
    "deprecatedSource" => deprecated_source: object,
    "deprecatedFirstTimestamp" => deprecated_first_timestamp: time,
    "deprecatedLastTimestamp" => deprecated_last_timestamp: time,
    "deprecatedCount" => deprecated_count: int32,
});
list!(e::EventList => e::Event);

// Go: `Count int32 json:"count"` (no omitempty).
message!(e::EventSeries {
    "count" => count: int32_keep,
    "lastObservedTime" => last_observed_time: micro_time,
});
