package main

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestUploadSurvivesSIGKILL kills a real parley serve (SIGKILL) while it
// takes a 20 MiB upload and, at the same time, uploads and posts messages
// with files, at a different moment of that work each round. After each
// restart: every file of every stored message is served whole with its
// SHA-256 (nothing referenced is missing), every acknowledged message is
// there, and nothing partial is visible (tmp/ is emptied, each object's
// name is its content's hash).
func TestUploadSurvivesSIGKILL(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "parley.db")
	files := db + ".files"
	var acked []ackedPost // messages whose POST was answered 201
	partial := 0          // rounds whose kill left a partial upload in tmp/
	for round, delay := range []time.Duration{0, 150 * time.Millisecond, 400 * time.Millisecond, time.Second} {
		c := startChild(t, "serve", "-addr", "127.0.0.1:0", "-db", db, "-limits=false")
		client := &http.Client{Timeout: 2 * time.Minute}
		var (
			mu    sync.Mutex
			wg    sync.WaitGroup
			stop  = make(chan struct{})
			begun = make(chan struct{})
		)
		// A big upload streamed slowly, in flight at the kill.
		wg.Add(1)
		go func() {
			defer wg.Done()
			pr, pw := io.Pipe()
			go func() {
				chunk := bytes.Repeat([]byte{byte('a' + round)}, 256<<10)
				for i := 0; i < 80; i++ { // 20 MiB
					if i == 4 {
						close(begun)
					}
					if _, err := pw.Write(chunk); err != nil {
						return
					}
					select {
					case <-stop:
						pw.CloseWithError(io.ErrUnexpectedEOF)
						return
					case <-time.After(20 * time.Millisecond):
					}
				}
				pw.Close()
			}()
			req, _ := http.NewRequest(http.MethodPost, c.url+"/api/rooms/crash/files?name=big.bin&author=crash", pr)
			if resp, err := client.Do(req); err == nil {
				resp.Body.Close()
			}
		}()
		// Small uploads posted in messages, acknowledged or not.
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				data := make([]byte, 64<<10+i)
				rand.Read(data)
				p, err := uploadAndPost(client, c.url, fmt.Sprintf("r%d-%d.bin", round, i), data)
				if err != nil {
					return // the server died under it
				}
				mu.Lock()
				acked = append(acked, p)
				mu.Unlock()
			}
		}()
		<-begun
		time.Sleep(delay)
		c.cmd.Process.Kill() // SIGKILL: no shutdown, no flush
		<-c.exited
		c.exited <- nil // for the cleanup
		close(stop)
		wg.Wait()

		checkFilesDir(t, files)
		if left, _ := os.ReadDir(filepath.Join(files, "tmp")); len(left) > 0 {
			partial++
		}
		c2 := startChild(t, "serve", "-addr", "127.0.0.1:0", "-db", db, "-limits=false")
		checkServed(t, c2.url, files, acked)
		c2.cmd.Process.Kill()
		<-c2.exited
		c2.exited <- nil
	}
	t.Logf("%d posts acknowledged; %d of 4 kills left a partial upload", len(acked), partial)
	if len(acked) == 0 || partial == 0 {
		t.Fatal("no post was acknowledged, or no kill cut an upload short: the test proved nothing")
	}
}

// ackedPost is a message with one file whose POST was answered.
type ackedPost struct {
	message, file, sha256 string
}

// uploadAndPost uploads data and posts a message carrying it.
func uploadAndPost(client *http.Client, url, name string, data []byte) (ackedPost, error) {
	resp, err := client.Post(url+"/api/rooms/crash/files?author=crash&name="+name, "application/octet-stream", bytes.NewReader(data))
	if err != nil {
		return ackedPost{}, err
	}
	var f struct{ ID, SHA256 string }
	err = json.NewDecoder(resp.Body).Decode(&f)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusCreated {
		return ackedPost{}, fmt.Errorf("upload: %d %v", resp.StatusCode, err)
	}
	sum := sha256.Sum256(data)
	if f.SHA256 != hex.EncodeToString(sum[:]) {
		return ackedPost{}, fmt.Errorf("upload answered sha256 %s for other bytes", f.SHA256)
	}
	body := fmt.Sprintf(`{"author":"crash","text":"with %s","files":[%q]}`, name, f.ID)
	resp, err = client.Post(url+"/api/rooms/crash/messages", "application/json", strings.NewReader(body))
	if err != nil {
		return ackedPost{}, err
	}
	var m struct{ ID string }
	err = json.NewDecoder(resp.Body).Decode(&m)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusCreated {
		return ackedPost{}, fmt.Errorf("post: %d %v", resp.StatusCode, err)
	}
	return ackedPost{message: m.ID, file: f.ID, sha256: f.SHA256}, nil
}

// checkFilesDir checks the files directory of a killed server: every
// object is whole (its name is its content's hash). tmp/ may hold what the
// kill cut short; the next start empties it, which checkServed sees.
func checkFilesDir(t *testing.T, dir string) {
	t.Helper()
	objects, _ := filepath.Glob(filepath.Join(dir, "objects", "*", "*"))
	for _, p := range objects {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(b)
		if hex.EncodeToString(sum[:]) != filepath.Base(p) {
			t.Fatalf("object %s holds other bytes (%d): a partial object is visible", filepath.Base(p), len(b))
		}
	}
}

// checkServed checks a restarted server: every message of the room that
// carries files serves each whole, every acknowledged post is there, and
// tmp/ was emptied.
func checkServed(t *testing.T, url, dir string, acked []ackedPost) {
	t.Helper()
	if left, _ := os.ReadDir(filepath.Join(dir, "tmp")); len(left) > 0 {
		t.Fatalf("tmp/ holds %d partial uploads after the restart", len(left))
	}
	resp, err := http.Get(url + "/api/rooms/crash/messages?limit=1000")
	if err != nil {
		t.Fatal(err)
	}
	var page struct {
		Messages []struct {
			ID    string
			Files []struct{ ID, SHA256 string }
		} `json:"events"`
	}
	err = json.NewDecoder(resp.Body).Decode(&page)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	stored := map[string]bool{}
	for _, m := range page.Messages {
		stored[m.ID] = true
		for _, f := range m.Files {
			resp, err := http.Get(url + "/api/rooms/crash/files/" + f.ID)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			sum := sha256.Sum256(b)
			if resp.StatusCode != http.StatusOK || hex.EncodeToString(sum[:]) != f.SHA256 {
				t.Fatalf("file %s of message %s: got %d, %d bytes hashing %x, want %s", f.ID, m.ID, resp.StatusCode, len(b), sum, f.SHA256)
			}
		}
	}
	for _, p := range acked {
		if !stored[p.message] {
			t.Fatalf("acknowledged message %s (file %s) is gone after the restart", p.message, p.file)
		}
	}
	if len(page.Messages) >= 1000 {
		t.Fatal("more messages than one page: raise the test's limit")
	}
}
