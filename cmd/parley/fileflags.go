package main

import (
	"flag"
	"fmt"
	"time"

	"github.com/parleychat/parley/api"
	"github.com/parleychat/parley/store"
)

// fileFlags are serve's flags for uploads (docs/files.md, "Limits").
type fileFlags struct {
	limits    api.FileLimits
	uploadTTL time.Duration
}

// addFileFlags defines them on fs.
func addFileFlags(fs *flag.FlagSet) *fileFlags {
	f := &fileFlags{limits: api.DefaultFileLimits, uploadTTL: 24 * time.Hour}
	l := &f.limits
	fs.Int64Var(&l.MaxFileBytes, "max-file-bytes", l.MaxFileBytes, "largest file accepted, in bytes (larger: 413)")
	fs.BoolVar(&l.KeepMetadata, "keep-metadata", false, "store JPEG and PNG uploads as sent, EXIF (GPS) and all; by default it is stripped")
	fs.Int64Var(&l.UserQuota, "user-quota", l.UserQuota, "bytes of files each uploader may keep (0: no limit)")
	fs.Int64Var(&l.RoomQuota, "room-quota", l.RoomQuota, "bytes of files each room may keep (0: no limit)")
	fs.Float64Var(&l.UploadsPerMinute, "rate-upload", l.UploadsPerMinute, "uploads per minute per identity (per IP without -auth), bursts of a third (0: no limit)")
	fs.IntVar(&l.MaxFilesPerMessage, "max-files-per-message", l.MaxFilesPerMessage, "files one message may carry (at most 10)")
	fs.IntVar(&l.MaxUploads, "max-uploads", l.MaxUploads, "uploads in progress at once, server-wide (0: no limit)")
	fs.DurationVar(&l.BodyTimeout, "upload-body-timeout", l.BodyTimeout, "longest an upload's body may take to arrive (0: no limit)")
	fs.DurationVar(&f.uploadTTL, "upload-ttl", f.uploadTTL, "uploads no message carries are deleted after this (0: never)")
	return f
}

// check refuses bad values.
func (f *fileFlags) check() error {
	if f.limits.MaxFileBytes <= 0 {
		return fmt.Errorf("-max-file-bytes must be positive, got %d", f.limits.MaxFileBytes)
	}
	if f.limits.MaxFilesPerMessage < 1 || f.limits.MaxFilesPerMessage > store.MaxFilesPerMessage {
		return fmt.Errorf("-max-files-per-message must be 1 to %d, got %d", store.MaxFilesPerMessage, f.limits.MaxFilesPerMessage)
	}
	if f.uploadTTL < 0 || f.limits.BodyTimeout < 0 {
		return fmt.Errorf("-upload-ttl and -upload-body-timeout must be 0 or more")
	}
	return nil
}

// apply makes files srv's file store with the flags' limits; limitsOn
// false lifts the rate limits, as -limits=false does for the others. (The
// db's UploadTTL is set before it opens.)
func (f *fileFlags) apply(files store.Files, srv *api.Server, limitsOn bool) {
	if !limitsOn {
		f.limits.UploadsPerMinute, f.limits.MaxUploads = 0, 0
	}
	srv.Files, srv.FileLimits = files, f.limits
}
