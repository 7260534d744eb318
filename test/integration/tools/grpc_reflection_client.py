"""Lists a gRPC server's services and resolves one method through server reflection with the
official Python client, grpcio-reflection, which speaks only grpc.reflection.v1alpha.

usage: python grpc_reflection_client.py HOST:PORT SERVICE METHOD
prints JSON: {"services": [...], "method": {...}} (method null when the service or method is
unknown); exits 1 with the gRPC error when reflection itself fails.
"""

import json
import sys

import grpc
from google.protobuf.descriptor_pool import DescriptorPool
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import ProtoReflectionDescriptorDatabase


def main() -> int:
    address, service_name, method_name = sys.argv[1:4]
    with grpc.insecure_channel(address) as channel:
        grpc.channel_ready_future(channel).result(timeout=10)
        database = ProtoReflectionDescriptorDatabase(channel)
        try:
            services = sorted(database.get_services())
            pool = DescriptorPool(database)
            try:
                service = pool.FindServiceByName(service_name)
            except KeyError:
                service = None
            method = None if service is None else service.methods_by_name.get(method_name)
        except grpc.RpcError as error:
            print(f"{error.code().name}: {error.details()}", file=sys.stderr)
            return 1
    print(
        json.dumps(
            {
                "services": services,
                "method": None
                if method is None
                else {
                    "fullName": method.full_name,
                    "file": method.containing_service.file.name,
                    "input": method.input_type.full_name,
                    "output": method.output_type.full_name,
                    "clientStreaming": method.client_streaming,
                    "serverStreaming": method.server_streaming,
                },
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
