package main

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/kmsd/kmsd/auth"
)

// Credentials, like the AWS CLI's: the environment (KMS_ACCESS_KEY_ID,
// KMS_SECRET_ACCESS_KEY, KMS_SESSION_TOKEN) first, then a profile of the
// shared credentials file (~/.kmsd/credentials, or KMS_SHARED_CREDENTIALS_FILE):
//
//	[default]
//	kms_access_key_id = AKIA...
//	kms_secret_access_key = ...
//
// chosen with --profile or KMS_PROFILE (default "default"). With none,
// calls go unsigned and kmsd refuses them.

func loadCredentials(pa *parsedArgs) (auth.Credentials, bool, error) {
	profile := pa.strings["profile"]
	if profile == "" {
		if c, err := auth.FromEnvironment(); err == nil {
			return c, true, nil
		} else if !errors.Is(err, auth.ErrNoCredentials) {
			return auth.Credentials{}, false, usagef("%v", err)
		}
		profile = os.Getenv("KMS_PROFILE")
	}
	explicit := profile != ""
	if profile == "" {
		profile = "default"
	}
	path := os.Getenv("KMS_SHARED_CREDENTIALS_FILE")
	if path == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return auth.Credentials{}, false, nil
		}
		path = filepath.Join(home, ".kmsd", "credentials")
	}
	c, found, err := readProfile(path, profile)
	if err != nil {
		return auth.Credentials{}, false, usagef("credentials file %s: %v", path, err)
	}
	if !found && explicit {
		return auth.Credentials{}, false, usagef("the profile %q is not in %s", profile, path)
	}
	return c, found, nil
}

// readProfile reads one profile of an INI credentials file; a missing file
// has no profiles.
func readProfile(path, profile string) (auth.Credentials, bool, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return auth.Credentials{}, false, nil
	}
	if err != nil {
		return auth.Credentials{}, false, err
	}
	defer f.Close()
	var c auth.Credentials
	found, in := false, false
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || line[0] == '#' || line[0] == ';':
		case line[0] == '[' && line[len(line)-1] == ']':
			in = strings.TrimSpace(line[1:len(line)-1]) == profile
			found = found || in
		case in:
			k, v, ok := strings.Cut(line, "=")
			if !ok {
				return c, false, fmt.Errorf("line %d: want key = value", n)
			}
			switch strings.TrimSpace(k) {
			case "kms_access_key_id":
				c.AccessKeyID = strings.TrimSpace(v)
			case "kms_secret_access_key":
				c.SecretAccessKey = strings.TrimSpace(v)
			case "kms_session_token":
				c.SessionToken = strings.TrimSpace(v)
			}
		}
	}
	if err := sc.Err(); err != nil {
		return c, false, err
	}
	if found && (c.AccessKeyID == "" || c.SecretAccessKey == "") {
		return c, false, fmt.Errorf("profile %q needs kms_access_key_id and kms_secret_access_key", profile)
	}
	return c, found, nil
}
