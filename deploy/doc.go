// Package deploy holds no code: its tests build the repository's
// Dockerfile on the Docker engine at hand and run the image, alone and
// through compose.yaml, as a user would. They sit beside no other package
// because they test the deployment, not a part of the data path.
package deploy
