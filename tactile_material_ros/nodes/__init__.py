"""nodes: the thin ROS 2 layer (camera, palpation, classifier, demo client); the interface is in README."""
