"""Palpate and classify: the DIGIT camera, the UR palpation node and the material classifier.

    ros2 launch tactile_material_ros palpate_and_classify.launch.py [use_sim:=true] [robot_ip:=IP]
        [digit_serial:=SERIAL] [model:=PATH] [trigger:=press] [scene:=PATH] [record:=false] [bag_dir:=bags]

The nodes, their parameter files, parameters and remappings come from
``tactile_material_ros.graph`` (bringup reads the same description). robot_state_publisher
is added when ``robot_state_publisher`` and ``ur_description`` are installed, so rviz
(config/tactile_material.rviz) can show the arm from ``joint_states``.
"""

from __future__ import annotations

from launch.actions import DeclareLaunchArgument, OpaqueFunction
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node

from launch import LaunchDescription
from tactile_material_ros import graph


def node_actions(context: object) -> list:
    """The graph's nodes for the launch arguments as given (OpaqueFunction: values are resolved here)."""
    arguments = {name: LaunchConfiguration(name).perform(context) for name in graph.ARGUMENTS}
    actions = [
        Node(
            package=graph.PACKAGE,
            executable=spec.executable,
            name=spec.name,
            parameters=[*(str(path) for path in spec.parameter_files), dict(spec.parameters)],
            remappings=list(spec.remappings),
            output="screen",
            emulate_tty=True,
        )
        for spec in graph.build_graph(arguments)
    ]
    return actions + robot_state_publisher()


def robot_state_publisher() -> list:
    """robot_state_publisher with the UR10 description, where both packages are installed; else nothing."""
    description = graph.ROBOT_DESCRIPTION
    try:
        from ament_index_python.packages import get_package_share_directory

        get_package_share_directory("robot_state_publisher")
        xacro_path = f"{get_package_share_directory(description.package)}/{description.xacro_file}"
    except (ImportError, LookupError, OSError):  # not installed, or no ament index at all
        return []
    from launch.substitutions import Command, FindExecutable
    from launch_ros.parameter_descriptions import ParameterValue

    xacro = [FindExecutable(name="xacro"), " ", xacro_path]
    for name, value in description.xacro_arguments:
        xacro += [" ", f"{name}:={value}"]
    return [Node(
        package="robot_state_publisher",
        executable="robot_state_publisher",
        parameters=[{"robot_description": ParameterValue(Command(xacro), value_type=str)}],
        output="screen",
    )]


def generate_launch_description() -> LaunchDescription:
    declared = [DeclareLaunchArgument(name, default_value=arg.default, description=arg.description)
                for name, arg in graph.ARGUMENTS.items()]
    return LaunchDescription([*declared, OpaqueFunction(function=node_actions)])
