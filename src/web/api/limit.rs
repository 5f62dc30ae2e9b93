//! Rate limiting of control and upload requests: a token bucket per client address
//! (`web.rate_limit_per_minute` tokens, refilled evenly over a minute; 0 turns it off).
//! Excess requests get 429 with `Retry-After` in whole seconds.
//!
//! The table is bounded: a client whose bucket has refilled completely is idle and carries no
//! state worth keeping, so it is dropped when room is needed; if every client is active, the
//! one seen longest ago goes. IPv6 clients are counted per /64, the block one host controls.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::extract::{ConnectInfo, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::error::ApiError;
use crate::web::WebState;

/// Clients tracked at once.
const MAX_CLIENTS: usize = 1024;

/// A request over the limit, and when the next one would pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limited {
    pub retry_after_s: u64,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    updated: Instant,
}

pub struct RateLimiter {
    per_minute: u32,
    // A std mutex: held for a table lookup, never across an await.
    clients: Mutex<HashMap<IpAddr, Bucket>>,
}

impl RateLimiter {
    pub fn new(per_minute: u32) -> RateLimiter {
        RateLimiter {
            per_minute,
            clients: Mutex::new(HashMap::new()),
        }
    }

    fn capacity(&self) -> f64 {
        f64::from(self.per_minute)
    }

    fn refilled(&self, bucket: Bucket, now: Instant) -> f64 {
        let elapsed = now.saturating_duration_since(bucket.updated).as_secs_f64();
        (bucket.tokens + elapsed * self.capacity() / 60.0).min(self.capacity())
    }

    /// Takes one token for `client`, or says how long until one is there.
    pub fn check(&self, client: IpAddr, now: Instant) -> Result<(), Limited> {
        if self.per_minute == 0 {
            return Ok(());
        }
        let key = client_key(client);
        let mut clients = self.clients.lock().unwrap_or_else(|e| e.into_inner());
        if !clients.contains_key(&key) && clients.len() >= MAX_CLIENTS {
            self.make_room(&mut clients, now);
        }
        let bucket = clients.entry(key).or_insert(Bucket {
            tokens: self.capacity(),
            updated: now,
        });
        let tokens = self.refilled(*bucket, now);
        if tokens >= 1.0 {
            *bucket = Bucket {
                tokens: tokens - 1.0,
                updated: now,
            };
            return Ok(());
        }
        *bucket = Bucket {
            tokens,
            updated: now,
        };
        let wait_s = (1.0 - tokens) * 60.0 / self.capacity();
        Err(Limited {
            retry_after_s: (wait_s.ceil() as u64).max(1),
        })
    }

    fn make_room(&self, clients: &mut HashMap<IpAddr, Bucket>, now: Instant) {
        clients.retain(|_, bucket| self.refilled(*bucket, now) < self.capacity());
        if clients.len() >= MAX_CLIENTS {
            let oldest = clients
                .iter()
                .min_by_key(|(_, bucket)| bucket.updated)
                .map(|(ip, _)| *ip);
            if let Some(ip) = oldest {
                clients.remove(&ip);
            }
        }
    }

    #[cfg(test)]
    fn tracked(&self) -> usize {
        self.clients.lock().map(|c| c.len()).unwrap_or(0)
    }
}

/// IPv4 (also when mapped into IPv6) as is; IPv6 by its /64.
fn client_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
    }
}

/// Middleware for control and upload routes.
pub async fn limit(State(state): State<Arc<WebState>>, request: Request, next: Next) -> Response {
    let client = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |info| info.0.ip());
    match state.rate_limit.check(client, Instant::now()) {
        Ok(()) => next.run(request).await,
        Err(Limited { retry_after_s }) => ApiError::RateLimited { retry_after_s }.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn ip(last: u8) -> IpAddr {
        IpAddr::V4(Ipv4Addr::new(192, 168, 1, last))
    }

    #[test]
    fn a_client_gets_its_allowance_then_waits_for_the_next_token() {
        let limiter = RateLimiter::new(10);
        let t0 = Instant::now();
        for _ in 0..10 {
            assert_eq!(limiter.check(ip(1), t0), Ok(()));
        }
        assert_eq!(limiter.check(ip(1), t0), Err(Limited { retry_after_s: 6 }));
        assert_eq!(limiter.check(ip(2), t0), Ok(()), "others are not affected");
        let later = t0 + Duration::from_secs(6);
        assert_eq!(limiter.check(ip(1), later), Ok(()));
        assert!(limiter.check(ip(1), later).is_err());
    }

    #[test]
    fn zero_turns_the_limit_off() {
        let limiter = RateLimiter::new(0);
        let t0 = Instant::now();
        for _ in 0..1000 {
            assert_eq!(limiter.check(ip(1), t0), Ok(()));
        }
        assert_eq!(limiter.tracked(), 0);
    }

    #[test]
    fn the_table_stays_bounded_and_idle_clients_leave_first() {
        let limiter = RateLimiter::new(10);
        let t0 = Instant::now();
        for n in 0..MAX_CLIENTS as u32 {
            let addr = IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + n));
            limiter.check(addr, t0).unwrap();
        }
        assert_eq!(limiter.tracked(), MAX_CLIENTS);
        // A minute later every bucket is full again: all idle, all evictable.
        limiter.check(ip(1), t0 + Duration::from_secs(60)).unwrap();
        assert_eq!(limiter.tracked(), 1);
        for n in 0..2 * MAX_CLIENTS as u32 {
            let addr = IpAddr::V4(Ipv4Addr::from(0x0b00_0000 + n));
            limiter.check(addr, t0 + Duration::from_secs(61)).unwrap();
        }
        assert_eq!(limiter.tracked(), MAX_CLIENTS);
    }

    #[test]
    fn ipv6_clients_share_a_bucket_per_64_block() {
        let limiter = RateLimiter::new(1);
        let t0 = Instant::now();
        let a: IpAddr = "2001:db8:1:2::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2::2".parse().unwrap();
        assert!(limiter.check(a, t0).is_ok());
        assert!(limiter.check(b, t0).is_err());
        let mapped: IpAddr = "::ffff:192.168.1.1".parse().unwrap();
        assert!(limiter.check(ip(1), t0).is_ok());
        assert!(limiter.check(mapped, t0).is_err());
    }
}
