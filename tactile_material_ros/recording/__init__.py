"""Recording palpation cycles to rosbag2 MCAP bags, and reading them back (no ROS needed)."""
