import { loadFileDescriptorSetFromBuffer, type PackageDefinition } from '@grpc/proto-loader';
import { DESCRIPTOR_SET_BASE64 } from './gen/descriptor-set';

let cached: Buffer | undefined;

/** The FileDescriptorSet of every proto in proto/ (with imports), as serialized bytes. */
export function descriptorSet(): Buffer {
  cached ??= Buffer.from(DESCRIPTOR_SET_BASE64, 'base64');
  return cached;
}

/** A proto-loader package definition of all services, as @grpc/reflection expects it. */
export function reflectionPackageDefinition(): PackageDefinition {
  return loadFileDescriptorSetFromBuffer(descriptorSet());
}
