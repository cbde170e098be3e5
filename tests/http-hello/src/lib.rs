//! A wasi:http handler for the environment's real hosts: answers every request with 200 and
//! `hello from wasmCloud: <path>`, so a test can tell which request it served. Touches nothing else.

use wasi::http::types::{Fields, IncomingRequest, OutgoingBody, OutgoingResponse, ResponseOutparam};

struct Hello;

impl wasi::exports::http::incoming_handler::Guest for Hello {
    fn handle(request: IncomingRequest, response_out: ResponseOutparam) {
        let path = request.path_with_query().unwrap_or_default();
        let response = OutgoingResponse::new(Fields::new());
        let body = response.body().expect("a new response has a body");
        ResponseOutparam::set(response_out, Ok(response));
        let stream = body.write().expect("a new body has a stream");
        stream
            .blocking_write_and_flush(format!("hello from wasmCloud: {path}\n").as_bytes())
            .expect("the client reads the body");
        drop(stream);
        OutgoingBody::finish(body, None).expect("the body ends once");
    }
}

wasi::http::proxy::export!(Hello);
