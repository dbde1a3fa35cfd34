//! Generated types, clients and servers for the `cashflow.v1` gRPC contract.

/// The `cashflow.v1` package.
pub mod v1 {
    #![allow(clippy::all, clippy::pedantic, missing_docs)]
    tonic::include_proto!("cashflow.v1");
}

/// Encoded `FileDescriptorSet` of every Cashflow proto, for gRPC server reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] = tonic::include_file_descriptor_set!("cashflow_descriptor");
