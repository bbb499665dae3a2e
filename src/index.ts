// Library entry point.

export { convertTar, convertStream, computeRootDigest, type ConvertOptions, type ConvertResult, type Profile, type RootDigestOptions } from './host/convert.js';
export { verifyImage, formatVerification, type Verification } from './host/verify.js';
export { appendVhdFooterTo } from './host/vhd.js';
export { inspectImage, formatSummary, type ImageSummary } from './host/inspect.js';
export { diffImages, formatDiff, type ImageDiff } from './host/image-diff.js';
export { Ext4Reader, type Ext4ReaderOptions } from './host/ext4/reader.js';
export { openImageSource, openFileSource, bufferSource, type ByteSource } from './host/ext4/source.js';
export { LcowError } from './host/errors.js';
export { Driver, type DriverSettings, type GrantHook } from './driver/driver.js';
export { ChangeKind, type Change, type CreateOptions, type FileGetter, type GraphDriver } from './driver/types.js';
export { imageRootHashes, createImageVhds, type ImageOptions, type CreateImageOptions, type ImageResult, type ImageLayerResult } from './image/image.js';
