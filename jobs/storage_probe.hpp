// Inside the storage probe (tbbpipe/storage.hpp): what one device is, for the jobs layer.
#pragma once

#include <sys/types.h>

#include "tbbpipe/storage.hpp"

namespace tbbpipe::jobs {

/// The kind of the block device st_dev names, from the real /sys (kUnknown: no block device,
/// e.g. tmpfs or NFS, or no usable entry). Reads sysfs on every call: cache the answer.
StorageType probe_device_type(dev_t dev);

}  // namespace tbbpipe::jobs
