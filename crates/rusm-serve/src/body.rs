//! The two bodies of a request process, both streamed: the request body
//! as the handler reads it (capped at `max-body-mb`), and the response
//! body as the handler writes it (which owns the request's [`InFlight`]
//! guard, so a client that goes away kills the handler).

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::{Body, Frame, Incoming, SizeHint};
use rusm_wasm::{BodyError, HyperIncomingBody, HyperOutgoingBody};
use tokio::sync::oneshot;

use crate::request::InFlight;

/// The request body, ending in an error once more than `max` bytes came:
/// the handler sees `HTTP-request-body-size`, and `over` tells the server
/// to answer 413.
pub(crate) struct Capped {
    inner: Incoming,
    seen: u64,
    max: u64,
    over: Option<oneshot::Sender<()>>,
}

impl Capped {
    pub(crate) fn boxed(inner: Incoming, max: u64, over: oneshot::Sender<()>) -> HyperIncomingBody {
        Capped {
            inner,
            seen: 0,
            max,
            over: Some(over),
        }
        .boxed_unsync()
    }
}

impl Body for Capped {
    type Data = Bytes;
    type Error = BodyError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BodyError>>> {
        let this = &mut *self;
        if this.over.is_none() {
            return Poll::Ready(Some(Err(BodyError::HttpRequestBodySize(Some(this.seen)))));
        }
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    this.seen += data.len() as u64;
                    if this.seen > this.max {
                        if let Some(over) = this.over.take() {
                            let _ = over.send(());
                        }
                        return Poll::Ready(Some(Err(BodyError::HttpRequestBodySize(Some(
                            this.seen,
                        )))));
                    }
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(BodyError::from(e)))),
            other => other.map_err(BodyError::from),
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// Ready when the request body went over the cap; pending forever once
/// the body is gone without going over. Can be polled again after either.
pub(crate) struct OverCap(Option<oneshot::Receiver<()>>);

impl OverCap {
    pub(crate) fn new(rx: oneshot::Receiver<()>) -> Self {
        OverCap(Some(rx))
    }

    /// For a request without a body: never ready.
    pub(crate) fn never() -> Self {
        OverCap(None)
    }
}

impl Future for OverCap {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let Some(rx) = &mut self.0 else {
            return Poll::Pending;
        };
        match Pin::new(rx).poll(cx) {
            Poll::Ready(Ok(())) => Poll::Ready(()),
            Poll::Ready(Err(_)) => {
                self.0 = None;
                Poll::Pending
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

/// A handler's response body on its way to the client. Reaching its end
/// lets the handler finish by itself; being dropped before (the client
/// went away, or stopped reading and the connection was closed) kills it.
/// "Its end" is also the last of a known length: hyper stops polling a
/// body once it wrote the bytes a `content-length` announced (and never
/// polls one for `HEAD`, 204 or 304), and drops it, while the handler may
/// still be finishing its body or doing work after the response.
/// A request body that goes over the cap after the head went out cannot
/// be answered 413 any more: the response is cut off instead (an error
/// frame, which closes the connection) and the handler is killed.
pub(crate) struct Streamed {
    inner: HyperOutgoingBody,
    in_flight: Option<InFlight>,
    over: OverCap,
    /// The body's length as the response head fixed it, if it did.
    length: Option<u64>,
    sent: u64,
}

impl Streamed {
    /// `length`: the bytes the response head announces (0 for a response
    /// that has no body on the wire), `None` if it does not say.
    pub(crate) fn new(
        inner: HyperOutgoingBody,
        in_flight: InFlight,
        over: OverCap,
        length: Option<u64>,
    ) -> Self {
        Streamed {
            inner,
            in_flight: Some(in_flight),
            over,
            length,
            sent: 0,
        }
    }
}

impl Drop for Streamed {
    fn drop(&mut self) {
        if self.length.is_some_and(|n| self.sent >= n)
            && let Some(in_flight) = self.in_flight.take()
        {
            in_flight.completed();
        }
    }
}

impl Body for Streamed {
    type Data = Bytes;
    type Error = BodyError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BodyError>>> {
        if Pin::new(&mut self.over).poll(cx).is_ready() {
            // Dropping the guard kills the handler.
            self.in_flight = None;
            return Poll::Ready(Some(Err(BodyError::HttpRequestBodySize(None))));
        }
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        if let Some(in_flight) = &self.in_flight {
            // For the connection's watch on clients that stop reading.
            let state = in_flight.connection();
            match &polled {
                Poll::Ready(Some(Ok(_))) => state.frame_sent(),
                _ => state.frame_taken(),
            }
        }
        if let Poll::Ready(Some(Ok(frame))) = &polled
            && let Some(data) = frame.data_ref()
        {
            self.sent += data.len() as u64;
        }
        if let Poll::Ready(None) = polled
            && let Some(in_flight) = self.in_flight.take()
        {
            in_flight.completed();
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
