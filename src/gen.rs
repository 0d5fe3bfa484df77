//! `tagstream gen`: the synthetic generator to stdout, or as a line server at a fixed rate
//! (for load tests and the Spark comparison: one server feeds either engine).

use std::io::{self, BufWriter, Write};
use std::net::{TcpListener, TcpStream};

use crate::cli::GenArgs;
use crate::sources::generator::GenSpec;
use crate::sources::{Partition, Poll};

/// Runs the subcommand.
pub fn run(a: GenArgs) -> anyhow::Result<()> {
    let spec = GenSpec {
        rate: a.rate,
        seed: a.seed,
        count: a.count,
    };
    match &a.serve {
        None => {
            let mut out = BufWriter::with_capacity(1 << 16, io::stdout().lock());
            match write_all(&spec, &mut out) {
                Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(()),
                r => Ok(r?),
            }
        }
        Some(addr) => {
            let l = TcpListener::bind(addr)
                .map_err(|e| anyhow::anyhow!("cannot listen on {addr}: {e}"))?;
            crate::log::info(format_args!(
                "gen: serving tweets on {} at {} tweets/s per client",
                l.local_addr()?,
                if a.rate > 0.0 {
                    a.rate.to_string()
                } else {
                    "max".into()
                }
            ));
            for client in l.incoming() {
                let Ok(stream) = client else { continue };
                let spec = spec.clone();
                std::thread::spawn(move || serve(stream, &spec));
            }
            Ok(())
        }
    }
}

fn write_all(spec: &GenSpec, out: &mut impl Write) -> io::Result<()> {
    let mut g = spec.partition(0, 1);
    loop {
        match g.poll() {
            Poll::Lines(c) => {
                for l in c.iter() {
                    out.write_all(l)?;
                    out.write_all(b"\n")?;
                }
            }
            Poll::Idle => out.flush()?,
            Poll::Done => return out.flush(),
        }
    }
}

fn serve(stream: TcpStream, spec: &GenSpec) {
    let peer = stream
        .peer_addr()
        .map(|a| a.to_string())
        .unwrap_or_default();
    crate::log::info(format_args!("gen: client {peer} connected"));
    let mut w = BufWriter::with_capacity(1 << 16, stream);
    let r = write_all(spec, &mut w);
    crate::log::info(format_args!(
        "gen: client {peer} {}",
        if r.is_ok() { "done" } else { "disconnected" }
    ));
}
